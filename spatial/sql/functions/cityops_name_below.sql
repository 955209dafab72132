CREATE OR REPLACE FUNCTION public.cityops_name_below(name text, parent text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
        -- a unit named after its parent (梅园新村社区居委会第1网格) by what it adds (第1网格)
        SELECT CASE WHEN parent <> '' AND starts_with(name, parent) AND char_length(name) > char_length(parent)
                    THEN substr(name, char_length(parent) + 1) ELSE name END
    $function$;
