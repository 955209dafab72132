"""A realistic demo directory for the loaded hierarchy, written as a directory file.

Modelled on how a Chinese city staffs its 一网统管 front line: a grid worker (网格员) in every
grid, a law-enforcement squad (城管执法中队, a team of four) and an emergency squad in every
street with its sanitation vehicles, each district's specialist vehicles and equipment (drainage
trucks and mobile pumps, road, traffic, water, gas, power, drones), and city-level fire-rescue and
ambulance units. Every force gets a starting position inside its unit; teams and equipment stand
at fixed posts (their station or depot: the position is their home and does not go stale), people
and vehicles move and report; the generator is seeded,
so the same hierarchy gives the same file. The file is ordinary input for ``cityops load forces``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from forces.vocabulary import ForceKind
from spatial.sampling import random_point_in
from spatial.tiers import Tier

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红梅新宇浩然子轩欣怡梓涵晨"
COLUMNS = [
    "code",
    "name",
    "kind",
    "unit",
    "department",
    "capabilities",
    "shift",
    "contact_name",
    "contact_phone",
    "members",
    "lon",
    "lat",
    "fixed_post",
]
# what stands by at a depot or station (no fixes while it waits); people and patrol vehicles move
FIXED_POST_KINDS = (ForceKind.TEAM, ForceKind.EQUIPMENT)


@dataclass(frozen=True)
class Kit:
    """One kind of force a unit of some tier keeps, and how many."""

    label: str
    tag: str
    kind: str
    capabilities: str
    department: str
    count: int
    shift: str = ""


STREET_KITS = [
    Kit("环卫作业车", "SAN", "vehicle", "sanitation", "城市管理局", 2),
    Kit("应急处置分队", "ERT", "team", "rescue;first_aid;drainage", "应急管理局", 1),
]
DISTRICT_KITS = [
    Kit("排水抢险车", "DRN", "vehicle", "drainage", "水务局", 6),
    Kit("移动泵车", "PMP", "equipment", "drainage;power_supply", "水务局", 4),
    Kit("应急发电机", "GEN", "equipment", "power_supply", "供电公司", 2),
    Kit("电力抢修车", "ELE", "vehicle", "electrical", "供电公司", 2),
    Kit("道路养护车", "ROD", "vehicle", "road_repair", "交通运输局", 3),
    Kit("交警巡逻车", "TRF", "vehicle", "traffic_control", "公安交警", 4),
    Kit("园林作业车", "GRN", "vehicle", "greening", "绿化园林局", 2),
    Kit("供水抢修车", "WTR", "vehicle", "water_supply", "供水公司", 2),
    Kit("燃气抢险车", "GAS", "vehicle", "gas", "燃气集团", 1),
    Kit("巡查无人机", "UAV", "equipment", "aerial_survey;inspection", "应急管理局", 2),
    Kit("城管执法车", "LEV", "vehicle", "law_enforcement;inspection", "城市管理局", 3),
]
CITY_KITS = [
    Kit("消防救援车", "FIR", "vehicle", "firefighting;rescue;first_aid", "消防救援支队", 10),
    Kit("救护车", "AMB", "vehicle", "first_aid", "应急管理局", 12),
    Kit("应急电源车", "PWR", "vehicle", "power_supply;electrical", "供电公司", 4),
]
GRID_WORKER_SHIFTS = ["08:00-20:00", "08:00-20:00", "08:00-20:00", "20:00-08:00"]
UNITS = text("""
SELECT code, name, tier::text, ST_AsBinary(geom) AS wkb FROM unit
WHERE kind = 'administrative' AND tier IN ('city', 'district', 'street', 'grid') ORDER BY code
""")


class DemoDirectory:
    """Builds the rows; one random generator, so the output depends only on the seed and the units."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: list[dict[str, str]] = []

    def person_name(self) -> str:
        """A common Chinese name (surname + one or two characters)."""
        given = "".join(self.rng.choice(list(GIVEN), size=int(self.rng.integers(1, 3))))
        return str(self.rng.choice(list(SURNAMES))) + given

    def phone(self) -> str:
        """A mainland mobile number."""
        return f"1{self.rng.choice([3, 5, 7, 8, 9])}{self.rng.integers(0, 10**9):09d}"

    def point_in(self, area: BaseGeometry) -> tuple[float, float]:
        """A uniformly random point inside ``area``, to the 6th decimal (~0.1 m)."""
        x, y = random_point_in(area, self.rng)
        return round(x, 6), round(y, 6)

    def add(
        self,
        code: str,
        name: str,
        kind: str,
        unit: str,
        area: BaseGeometry,
        *,
        capabilities: str,
        department: str = "",
        shift: str = "",
        members: str = "",
        person: bool = False,
    ) -> str:
        """One force at a random point of its unit; returns its code."""
        lon, lat = self.point_in(area)
        contact = (self.person_name(), self.phone()) if person else ("", self.phone())
        self.rows.append(
            {
                "code": code,
                "name": name,
                "kind": kind,
                "unit": unit,
                "department": department,
                "capabilities": capabilities,
                "shift": shift,
                "contact_name": contact[0],
                "contact_phone": contact[1],
                "members": members,
                "lon": str(lon),
                "lat": str(lat),
                "fixed_post": str(kind in FIXED_POST_KINDS).lower(),
            }
        )
        return code

    def kits(self, unit_code: str, unit_name: str, area: BaseGeometry, kits: list[Kit]) -> None:
        """A unit's kit: teams with four members each, or numbered vehicles and equipment."""
        for kit in kits:
            for n in range(1, kit.count + 1):
                code = f"{unit_code}-{kit.tag}{n:02d}"
                if kit.kind == ForceKind.TEAM:
                    members = [
                        self.add(
                            f"{code}-{m}",
                            self.person_name(),
                            "person",
                            unit_code,
                            area,
                            capabilities=kit.capabilities,
                            department=kit.department,
                            person=True,
                        )
                        for m in range(1, 5)
                    ]
                    self.add(
                        code,
                        f"{unit_name}{kit.label}",
                        "team",
                        unit_code,
                        area,
                        capabilities=kit.capabilities,
                        department=kit.department,
                        members=";".join(members),
                    )
                else:
                    self.add(
                        code,
                        f"{unit_name}{kit.label}{n}号",
                        kit.kind,
                        unit_code,
                        area,
                        capabilities=kit.capabilities,
                        department=kit.department,
                        shift=kit.shift,
                    )

    def street(self, code: str, name: str, area: BaseGeometry) -> None:
        """A street's law-enforcement squad and its kit."""
        squad = [
            self.add(
                f"{code}-LAW-{m}",
                self.person_name(),
                "person",
                code,
                area,
                capabilities="law_enforcement;inspection",
                department="城市管理局",
                person=True,
            )
            for m in range(1, 5)
        ]
        self.add(
            f"{code}-LAW",
            f"{name}城管执法中队",
            "team",
            code,
            area,
            capabilities="law_enforcement;inspection",
            department="城市管理局",
            members=";".join(squad),
        )
        self.kits(code, name, area, STREET_KITS)

    def grid_worker(self, code: str, area: BaseGeometry) -> None:
        """The grid's 网格员, on a day or night shift."""
        shift = str(self.rng.choice(GRID_WORKER_SHIFTS))
        self.add(
            f"{code}-GW",
            self.person_name(),
            "person",
            code,
            area,
            capabilities="inspection;first_aid",
            shift=shift,
            person=True,
        )


def generate_directory(engine: Engine, path: Path, seed: int = 20231101) -> int:
    """Write the demo directory for the loaded hierarchy to ``path``; returns how many forces."""
    demo = DemoDirectory(seed)
    with engine.connect() as conn:
        units = conn.execute(UNITS).all()
    for code, name, tier, wkb in units:
        area = shapely.from_wkb(wkb)
        shapely.prepare(area)
        if tier == Tier.CITY:
            demo.kits(code, "市", area, CITY_KITS)
        elif tier == Tier.DISTRICT:
            demo.kits(code, name, area, DISTRICT_KITS)
        elif tier == Tier.STREET:
            demo.street(code, name, area)
        else:
            demo.grid_worker(code, area)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(demo.rows)
    partial.rename(path)
    return len(demo.rows)
