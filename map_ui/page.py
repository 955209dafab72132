"""Building folium maps that load nothing from outside the platform's own origin, as parts of a page.

folium writes a whole document; the platform's pages share one frame (``templates/base.html``: the
language, the title, the navigation, the Beijing clock, the page's words), so a map is taken apart
into its head, its body and its script, and ``templates/map.html`` places them in that frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import folium
from branca.element import Element, Figure, JavascriptLink, MacroElement
from jinja2 import Template

STATIC = "/static"
LOCAL_JS = [
    ("leaflet", f"{STATIC}/vendor/leaflet/leaflet.js"),
    ("vectorgrid", f"{STATIC}/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"),
]
LOCAL_CSS = [
    ("leaflet_css", f"{STATIC}/vendor/leaflet/leaflet.css"),
    ("cityops_css", f"{STATIC}/map/cityops.css"),
]


# scripts every map page loads after its own: each registers with ``cityops.extend`` (a part of every map)
EXTENSIONS: tuple[str, ...] = ("basemap", "search", "sensors", "warnings")
# folium's viewport forbids zooming the page; the frame's own viewport allows it (people with poor sight zoom)
FIXED_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*user-scalable=no[^>]*>', re.DOTALL)


@dataclass(frozen=True)
class MapParts:
    """A rendered folium map as the three places a page holds it."""

    header: str
    html: str
    script: str


def map_parts(fmap: folium.Map) -> MapParts:
    """Render ``fmap`` the way folium renders its figure, but hand back the parts instead of a document."""
    root = cast(Figure, fmap.get_root())  # a map's root is the Figure folium renders it into
    for child in root._children.values():  # what Figure.render does before it writes its own template
        child.render()
    return MapParts(FIXED_VIEWPORT.sub("", root.header.render()), root.html.render(), root.script.render())


class View(MacroElement):
    """A page's behaviour: ``window.<function>(map, options)`` from ``/static/map/<script>.js``.

    Options are serialised with ``tojson`` (HTML-escaped), so names from the database cannot
    break out of the script.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        window.{{ this.function }}({{ this._parent.get_name() }}, {{ this.options | tojson }});
        window.cityops.mapped({{ this._parent.get_name() }}, {{ this.options | tojson }});
        {% endmacro %}
    """)

    def __init__(self, function: str, options: dict[str, object]) -> None:
        super().__init__()
        self._name = "View"
        self.function = function
        self.options = options


def offline_map(
    bounds: tuple[float, float, float, float], basemap_url: str | None, script: str, *, mobile: bool = False
) -> folium.Map:
    """A folium map whose scripts and styles are all local; a basemap only when configured.

    The page's script fits the view to ``bounds`` itself, without animation, before it loads
    anything: folium's animated fit would have it read the view mid-flight and load twice.
    """
    west, south, east, north = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=11,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        zoom_control=not mobile,
    )
    fmap.default_js = LOCAL_JS
    fmap.default_css = LOCAL_CSS
    if basemap_url:
        folium.TileLayer(basemap_url, attr="basemap", name="basemap").add_to(fmap)
    root = cast(Figure, fmap.get_root())
    root.header.add_child(JavascriptLink(f"{STATIC}/map/cityops.js"))
    root.header.add_child(JavascriptLink(f"{STATIC}/map/{script}.js"))
    for extension in EXTENSIONS:
        root.header.add_child(JavascriptLink(f"{STATIC}/map/{extension}.js"))
    root.html.add_child(Element('<div id="cityops-status" class="cityops-status" role="status"></div>'))
    return fmap
