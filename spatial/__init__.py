"""The spatial store: settings, engine, models, migrations, embedded PostGIS, hierarchy import."""
