"""Forces: the unified directory of people, teams, vehicles and equipment (regulation article 9),
their live positions, nearest-capable recommendation and dispatch."""
