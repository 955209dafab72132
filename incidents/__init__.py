"""Major incidents (regulation arts. 6, 10, 11): one command over many cases, forces and departments.

An incident groups cases under a commanding unit chosen by its level; it has areas drawn or derived
on the map, a timeline of every change, departments summoned to report in (吹哨报到), tasks,
resources requested across units (EDXL-RM), situation reports and CAP 1.2 alerts. It stands on
``command`` (cases, users) and ``forces``; the API and the board page stand on it.
"""
