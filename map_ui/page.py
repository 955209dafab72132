"""Building folium pages that load nothing from outside the platform's own origin."""

from __future__ import annotations

import folium
from branca.element import Element, JavascriptLink, MacroElement
from jinja2 import Template

STATIC = "/static"
LOCAL_JS = [("leaflet", f"{STATIC}/vendor/leaflet/leaflet.js")]
LOCAL_CSS = [
    ("leaflet_css", f"{STATIC}/vendor/leaflet/leaflet.css"),
    ("cityops_css", f"{STATIC}/map/cityops.css"),
]


class TierLayers(MacroElement):
    """Hierarchy layers fetched by bbox from the units API as the view moves.

    A city has ~10k grids and tens of thousands of buildings; shipping them inline would make a
    page of many megabytes. Each tier loads only inside the view and from its zoom level on.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        cityops.tierLayers({{ this._parent.get_name() }}, {{ this.options | tojson }});
        {% endmacro %}
    """)

    def __init__(self, api: str, tiers: list[dict[str, object]]) -> None:
        super().__init__()
        self._name = "TierLayers"
        self.options = {"api": api, "tiers": tiers}


def offline_map(bounds: tuple[float, float, float, float], basemap_url: str | None) -> folium.Map:
    """A folium map whose scripts and styles are all local; a basemap only when configured."""
    west, south, east, north = bounds
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2], zoom_start=9, tiles=None,
        prefer_canvas=True, control_scale=True,
    )  # fmt: skip
    fmap.default_js = LOCAL_JS
    fmap.default_css = LOCAL_CSS
    if basemap_url:
        folium.TileLayer(basemap_url, attr="basemap", name="basemap").add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    root = fmap.get_root()
    root.header.add_child(JavascriptLink(f"{STATIC}/map/cityops.js"))
    root.html.add_child(Element('<div id="cityops-status" class="cityops-status"></div>'))
    return fmap
