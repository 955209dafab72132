"""publications append-only; scenarios written city-wide

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-05

The declared objects of migration 0050: a publication and its files refuse UPDATE and DELETE (a month
stays as published), and the scenario registry is readable by all and written only under a city-wide
scope.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0051"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.get_bind().exec_driver_sql(
        "CREATE OR REPLACE FUNCTION public.cityops_publication_frozen()\n"
        " RETURNS trigger\n"
        " LANGUAGE plpgsql\n"
        "AS $function$\n"
        "    BEGIN\n"
        "        RAISE EXCEPTION '% is append-only: a published month stays as published (% refused)', "
        "TG_TABLE_NAME, TG_OP;\n"
        "    END $function$;\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER publication_frozen BEFORE DELETE OR UPDATE ON public.publication FOR EACH ROW "
        "EXECUTE FUNCTION cityops_publication_frozen();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE TRIGGER publication_file_frozen BEFORE DELETE OR UPDATE ON public.publication_file FOR EACH ROW "
        "EXECUTE FUNCTION cityops_publication_frozen();\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE POLICY scenario_added_city_wide ON public.scenario AS PERMISSIVE FOR INSERT TO cityops_api\n"
        "    WITH CHECK (((cityops_scope_department() IS NULL) AND (EXISTS ( SELECT\n"
        "   FROM unit u\n"
        "  WHERE ((u.id = cityops_scope_unit()) AND (u.parent_id IS NULL))))));\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE POLICY scenario_changed_city_wide ON public.scenario AS PERMISSIVE FOR UPDATE TO cityops_api\n"
        "    USING (((cityops_scope_department() IS NULL) AND (EXISTS ( SELECT\n"
        "   FROM unit u\n"
        "  WHERE ((u.id = cityops_scope_unit()) AND (u.parent_id IS NULL))))))\n"
        "    WITH CHECK (((cityops_scope_department() IS NULL) AND (EXISTS ( SELECT\n"
        "   FROM unit u\n"
        "  WHERE ((u.id = cityops_scope_unit()) AND (u.parent_id IS NULL))))));\n",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "CREATE POLICY scenario_public ON public.scenario AS PERMISSIVE FOR SELECT TO cityops_api\n    USING (true);\n",
        execution_options={"no_parameters": True},
    )


def downgrade() -> None:
    op.get_bind().exec_driver_sql(
        "DROP POLICY scenario_public ON public.scenario;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP POLICY scenario_changed_city_wide ON public.scenario;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP POLICY scenario_added_city_wide ON public.scenario;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER publication_file_frozen ON public.publication_file;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP TRIGGER publication_frozen ON public.publication;",
        execution_options={"no_parameters": True},
    )
    op.get_bind().exec_driver_sql(
        "DROP FUNCTION public.cityops_publication_frozen;",
        execution_options={"no_parameters": True},
    )
