"""The city's own basemap: a PMTiles or MBTiles package kept in the data directory and read as XYZ tiles.

A centre on a closed government network reaches neither Tianditu nor an internet tile server; it
can bring a tile package instead (an OpenStreetMap extract, its orthophotos, its surveying
authority's map). ``cityops basemap import FILE`` checks the file, copies it under
``<data dir>/basemap/<city>/`` and records what is served in ``basemap.json`` beside it. The record
is written last and atomically, so a refused or interrupted import leaves the previous package
served. The serving process notices a new record by its modification time and reads tiles through
read-only handles: a pool of SQLite connections for MBTiles, one shared memory map for PMTiles.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import queue
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from mmap import ACCESS_READ, mmap
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict
from urllib.parse import quote

from pmtiles.tile import (
    Compression,
    Entry,
    MagicNumberNotFound,
    TileType,
    deserialize_directory,
    deserialize_header,
    find_tile,
    zxy_to_tileid,
)

from spatial.errors import InvalidInputError, NotFoundError
from spatial.settings import StoreSettings

Format = Literal["mbtiles", "pmtiles"]
Kind = Literal["png", "jpg", "webp", "pbf"]
MEDIA_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "pbf": "application/vnd.mapbox-vector-tile",
}
EXPECTED = (
    'expected a PMTiles v3 archive (starting with the bytes "PMTiles" and version 3) or an MBTiles package '
    "(an SQLite database with `metadata` and `tiles` tables) of png, jpg, webp or pbf tiles"
)
SQLITE_MAGIC = b"SQLite format 3\x00"
WORLD = (-180.0, -85.0511, 180.0, 85.0511)
RECORD = "basemap.json"
COPY_CHUNK = 4 << 20
HANDLES = 4  # read-only SQLite connections per package: tiles are read in the threads of the request pool
PMTILES_TYPES: dict[TileType, Kind] = {
    TileType.MVT: "pbf",
    TileType.PNG: "png",
    TileType.JPEG: "jpg",
    TileType.WEBP: "webp",
}
MBTILES_FORMATS: dict[str, Kind] = {
    "png": "png",
    "jpg": "jpg",
    "jpeg": "jpg",
    "webp": "webp",
    "pbf": "pbf",
    "mvt": "pbf",
}
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Package:
    """What a tile package holds, and (once imported) which file in the basemap directory serves it."""

    format: Format
    tile_type: Kind
    compression: Literal["gzip", "none"]
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float]  # west, south, east, north (WGS 84)
    tiles: int
    size: int
    name: str = ""
    attribution: str = ""
    layers: tuple[str, ...] = ()  # vector tiles: the layer names the metadata declares
    file: str = ""
    sha256: str = ""
    source: str = ""
    imported_at: str = ""

    @property
    def kind(self) -> Literal["raster", "vector"]:
        """Vector (pbf) tiles are drawn by the browser; raster tiles are pictures."""
        return "vector" if self.tile_type == "pbf" else "raster"

    @property
    def version(self) -> str:
        """A short identity of the served file: tile URLs and ETags change with it."""
        return self.sha256[:16]

    def as_record(self) -> dict[str, object]:
        """The JSON kept beside the package."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Package:
        """Read ``basemap.json`` back."""
        values = {k: v for k, v in record.items() if k in cls.__dataclass_fields__}
        values["bounds"] = tuple(values["bounds"])
        values["layers"] = tuple(values.get("layers", ()))
        return cls(**values)


def basemap_dir(settings: StoreSettings) -> Path:
    """Where the city's package lives: beside its media, one directory per city."""
    return settings.data_dir / "basemap" / settings.city


def inspect(path: Path) -> Package:
    """Check a file is a tile package this platform serves, and say what it holds; refuse it otherwise."""
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(b"PMTiles"):
        return _inspect_pmtiles(path)
    if head == SQLITE_MAGIC:
        return _inspect_mbtiles(path)
    raise InvalidInputError(f"{path.name} is neither PMTiles nor MBTiles: {EXPECTED}")


def _inspect_pmtiles(path: Path) -> Package:
    size = path.stat().st_size
    with path.open("rb") as handle:
        raw = handle.read(127)
    if len(raw) < 127:
        raise InvalidInputError(f"{path.name}: truncated PMTiles header ({len(raw)} of 127 bytes); {EXPECTED}")
    if raw[7] != 3:
        raise InvalidInputError(
            f"{path.name} is PMTiles version {raw[7]}: only version 3 is served (convert it with `pmtiles convert`)"
        )
    try:
        header = deserialize_header(raw)
    except (MagicNumberNotFound, ValueError) as error:
        raise InvalidInputError(f"{path.name}: a damaged PMTiles header ({error}); {EXPECTED}") from None
    for section in ("root", "metadata", "leaf_directory", "tile_data"):
        end = header[f"{section}_offset"] + header[f"{section}_length"]  # type: ignore[literal-required]  # pmtiles's HeaderDict is a TypedDict; mypy cannot see that these f-strings name its keys
        if end > size:
            raise InvalidInputError(
                f"{path.name} is truncated: its {section.replace('_', ' ')} ends at byte {end}, "
                f"the file has {size} bytes"
            )
    tile_type = PMTILES_TYPES.get(header["tile_type"])
    if tile_type is None:
        raise InvalidInputError(f"{path.name} holds {header['tile_type'].name} tiles: {EXPECTED}")
    if header["internal_compression"] != Compression.GZIP:
        raise InvalidInputError(
            f"{path.name}: directories compressed with {header['internal_compression'].name}, "
            "expected GZIP (rewrite it with `pmtiles convert`)"
        )
    compression = _pmtiles_compression(path, header["tile_compression"], tile_type)
    if header["addressed_tiles_count"] == 0:
        raise InvalidInputError(f"{path.name} holds no tiles")
    reader = PMTilesReader(path)
    try:
        metadata = reader.metadata()
        first = reader.first_tile()
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise InvalidInputError(f"{path.name}: damaged PMTiles directories or metadata ({error})") from None
    finally:
        reader.close()
    if first is None:
        raise InvalidInputError(f"{path.name} holds no tiles")
    west, south, east, north = (header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7"))
    bounds = (west, south, east, north)
    return Package(
        "pmtiles",
        tile_type,
        compression,
        header["min_zoom"],
        header["max_zoom"],
        bounds,
        header["addressed_tiles_count"],
        size,
        **_described(metadata),
    )


def _pmtiles_compression(path: Path, compression: Compression, tile_type: str) -> Literal["gzip", "none"]:
    if compression == Compression.GZIP and tile_type == "pbf":
        return "gzip"
    if compression in (Compression.NONE, Compression.UNKNOWN):
        return "none"
    raise InvalidInputError(
        f"{path.name}: {tile_type} tiles compressed with {compression.name}, which browsers "
        "are not sent; expected gzip or none (rewrite it with `pmtiles convert`)"
    )


class _Described(TypedDict):
    name: str
    attribution: str
    layers: tuple[str, ...]


def _described(metadata: dict[str, object]) -> _Described:
    """Name, attribution and vector layer names from a package's metadata (PMTiles JSON or MBTiles rows)."""
    layers = metadata.get("vector_layers")
    if isinstance(metadata.get("json"), str):  # MBTiles keeps the TileJSON part as a JSON string
        with suppress(ValueError):
            layers = json.loads(str(metadata["json"])).get("vector_layers", layers)
    names = (
        tuple(str(layer["id"]) for layer in layers if isinstance(layer, dict) and "id" in layer)
        if isinstance(layers, list)
        else ()
    )
    return {
        "name": str(metadata.get("name") or ""),
        "attribution": str(metadata.get("attribution") or ""),
        "layers": names,
    }


def _inspect_mbtiles(path: Path) -> Package:
    size = path.stat().st_size
    try:
        with _sqlite(path) as db:
            page_count, page_size = (
                db.execute("PRAGMA page_count").fetchone()[0],
                db.execute("PRAGMA page_size").fetchone()[0],
            )
            if page_count * page_size != size:
                raise InvalidInputError(
                    f"{path.name} is truncated or damaged: SQLite says {page_count * page_size} "
                    f"bytes, the file has {size} (copy it again, after the program writing it "
                    "has closed it)"
                )
            names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            missing = {"metadata", "tiles"} - names
            if missing:
                raise InvalidInputError(
                    f"{path.name} is an SQLite database without the {' and '.join(sorted(missing))} table: {EXPECTED}"
                )
            metadata = dict(db.execute("SELECT name, value FROM metadata").fetchall())
            count = db.execute("SELECT count(*) FROM tiles").fetchone()[0]
            if not count:
                raise InvalidInputError(f"{path.name} holds no tiles (its tiles table is empty)")
            first = db.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()[0]
            zooms = db.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
    except sqlite3.DatabaseError as error:
        raise InvalidInputError(f"{path.name}: a damaged SQLite database ({error}); {EXPECTED}") from None
    tile_type = _mbtiles_type(path, str(metadata.get("format", "")).lower(), bytes(first))
    compression: Literal["gzip", "none"] = "gzip" if bytes(first[:2]) == b"\x1f\x8b" else "none"
    return Package(
        "mbtiles",
        tile_type,
        compression,
        int(zooms[0]),
        int(zooms[1]),
        _bounds(str(metadata.get("bounds", ""))),
        int(count),
        size,
        **_described(metadata),
    )


def _mbtiles_type(path: Path, declared: str, first: bytes) -> Kind:
    """The tile type the metadata declares, checked against the first tile (or read from it when undeclared)."""
    sniffed = _sniff(first)
    if declared and declared not in MBTILES_FORMATS:
        raise InvalidInputError(f"{path.name} declares format {declared!r}: {EXPECTED}")
    kind = MBTILES_FORMATS.get(declared) or sniffed
    if kind is None:
        raise InvalidInputError(f"{path.name}: its tiles are neither png, jpg, webp nor (gzip) pbf: {EXPECTED}")
    if sniffed is not None and sniffed != kind:
        raise InvalidInputError(f"{path.name} declares format {declared!r} but holds {sniffed} tiles")
    return kind


def _sniff(data: bytes) -> Kind | None:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\x1f\x8b"):
        return "pbf"  # gzip: vector tiles are the only gzipped tiles packages carry
    return None  # an uncompressed vector tile has no magic: the metadata must say pbf


def _bounds(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        return WORLD
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        return WORLD
    return west, south, east, north


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    db = _read_only(path)
    try:
        yield db
    finally:
        db.close()


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; ``immutable``: the package never changes while served, so SQLite takes no locks."""
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1", uri=True, check_same_thread=False)


class TileReader(Protocol):
    """Tiles of one package by XYZ address (y from the top, as the web maps count)."""

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The stored bytes (compressed as stored), or None when the package has no such tile."""

    def close(self) -> None:
        """Release the handles."""


class MBTilesReader:
    """A pool of read-only SQLite connections (MBTiles rows count y from the bottom: TMS)."""

    def __init__(self, path: Path, handles: int = HANDLES) -> None:
        self._free: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all = [_read_only(path) for _ in range(handles)]
        for db in self._all:
            self._free.put(db)

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """One row of ``tiles``, on a connection nobody else is using."""
        db = self._free.get()
        try:
            row = db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        finally:
            self._free.put(db)
        return bytes(row[0]) if row else None

    def close(self) -> None:
        """Close every connection (only once no request reads through them)."""
        for db in self._all:
            db.close()


class PMTilesReader:
    """One read-only memory map of the archive (safe to slice from many threads); directories cached."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as handle:
            self._map = mmap(handle.fileno(), 0, access=ACCESS_READ)
        self.header = deserialize_header(self._map[:127])
        self._directory = lru_cache(maxsize=256)(self._read_directory)

    def _read_directory(self, offset: int, length: int) -> list[Entry]:
        return deserialize_directory(self._map[offset : offset + length])

    def metadata(self) -> dict[str, object]:
        """The archive's JSON metadata (name, attribution, vector_layers …)."""
        offset, length = self.header["metadata_offset"], self.header["metadata_length"]
        raw = gzip.decompress(self._map[offset : offset + length]) if length else b"{}"
        found = json.loads(raw)
        return found if isinstance(found, dict) else {}

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """Walk the root directory down to at most three levels of leaves (the v3 spec's limit)."""
        tile_id = zxy_to_tileid(z, x, y)
        offset, length = self.header["root_offset"], self.header["root_length"]
        for _ in range(4):
            entry = find_tile(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length:
                start = self.header["tile_data_offset"] + entry.offset
                return self._map[start : start + entry.length]
            offset, length = self.header["leaf_directory_offset"] + entry.offset, entry.length
        return None

    def first_tile(self) -> bytes | None:
        """The first tile the directories address (to prove they can be read)."""
        offset, length = self.header["root_offset"], self.header["root_length"]
        for _ in range(4):
            entries = self._directory(offset, length)
            if not entries:
                return None
            if entries[0].run_length:
                start = self.header["tile_data_offset"] + entries[0].offset
                return self._map[start : start + entries[0].length]
            offset, length = self.header["leaf_directory_offset"] + entries[0].offset, entries[0].length
        return None

    def close(self) -> None:
        """Unmap the archive."""
        self._map.close()


def open_reader(path: Path, package: Package) -> TileReader:
    """A reader for the package's format."""
    return PMTilesReader(path) if package.format == "pmtiles" else MBTilesReader(path)


def served(directory: Path) -> Package | None:
    """The package the record names, or None when none is imported (or its file has gone)."""
    try:
        package = Package.from_record(json.loads((directory / RECORD).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    return package if (directory / package.file).is_file() else None


def import_package(source: Path, directory: Path, progress: Progress | None = None) -> Package:
    """Check ``source``, copy it in, then switch the record to it; the previous package is removed last.

    Nothing changes when the file is refused: it is checked before anything is written, and the
    copy is only named in the record once it is complete and checked again.
    """
    package = inspect(source)
    directory.mkdir(parents=True, exist_ok=True)
    incoming = directory / f".incoming-{os.getpid()}.{package.format}"
    try:
        digest = _copy(source, incoming, package.size, progress or (lambda stage, fraction: None))
        copied = inspect(incoming)
        if copied.size != package.size:
            raise InvalidInputError(f"{source.name} changed while it was copied: import it again")
        final = directory / f"{digest[:16]}.{package.format}"
        incoming.replace(final)
    finally:
        incoming.unlink(missing_ok=True)
    previous = served(directory)
    package = replace(
        package,
        file=final.name,
        sha256=digest,
        source=source.name,
        imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    _write_record(directory, package.as_record())
    if previous and previous.file != package.file:
        (directory / previous.file).unlink(missing_ok=True)
    return package


def _copy(source: Path, target: Path, size: int, progress: Progress) -> str:
    digest = hashlib.sha256()
    done = 0
    with source.open("rb") as reading, target.open("wb") as writing:
        while chunk := reading.read(COPY_CHUNK):
            writing.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            progress("copy", done / size if size else 1.0)
        writing.flush()
        os.fsync(writing.fileno())
    return digest.hexdigest()


def _write_record(directory: Path, record: dict[str, object]) -> None:
    temporary = directory / f".{RECORD}.{os.getpid()}"
    temporary.write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    temporary.replace(directory / RECORD)  # atomic: a reader sees the old record or the new, never half


def remove_package(directory: Path) -> Package | None:
    """Stop serving the package (the record goes first, then the file); what was served, if anything."""
    package = served(directory)
    (directory / RECORD).unlink(missing_ok=True)
    if package:
        (directory / package.file).unlink(missing_ok=True)
    return package


class Basemap:
    """The serving process's view of the basemap directory: the current package and its open reader.

    A new import (by the CLI, another process) is noticed at the next request by the record's
    modification time and inode (one ``stat``, a microsecond or two); the previous reader is closed
    by the garbage collector once no request holds it any more.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: tuple[int, int] | None = None
        self._current: tuple[Package, TileReader] | None = None

    def current(self) -> tuple[Package, TileReader] | None:
        """The served package and its reader, or None."""
        try:
            stat = (self.directory / RECORD).stat()
            seen: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_ino)
        except FileNotFoundError:
            seen = None
        if seen != self._seen:
            package = served(self.directory)
            self._current = (package, open_reader(self.directory / package.file, package)) if package else None
            self._seen = seen
        return self._current
