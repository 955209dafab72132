"""Map pages (folium) and the assets they load, all served by the platform itself."""
