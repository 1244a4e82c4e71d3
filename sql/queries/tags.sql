-- Mission Control's tags and task custom field definitions with their board bindings
-- (store/tags.py). Every query takes the tenant id first.

-- name: tag_insert
INSERT INTO tags (tenant_id, name, slug, color, description)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: tags_select
-- One tag ($2) or all, by name, with how many tasks carry each.
SELECT g.id, g.tenant_id, g.name, g.slug, g.color, g.description, g.created_at, g.updated_at,
       (SELECT count(*) FROM task_tags AS tt WHERE tt.tenant_id = g.tenant_id AND tt.tag_id = g.id) AS task_count,
       count(*) OVER () AS total
  FROM tags AS g
 WHERE g.tenant_id = $1
   AND ($2::uuid IS NULL OR g.id = $2)
 ORDER BY lower(g.name), g.id
 LIMIT $3 OFFSET $4;

-- name: tag_update
-- The service merged the PATCH into the row.
UPDATE tags
   SET name        = $3,
       slug        = $4,
       color       = $5,
       description = $6,
       updated_at  = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: tag_delete
DELETE FROM tags
 WHERE tenant_id = $1
   AND id        = $2;

-- name: field_insert
INSERT INTO custom_field_defs (tenant_id, field_key, label, field_type, ui_visibility, validation_regex,
                               description, required, default_value)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id;

-- name: fields_select
-- One definition ($2) or all, by key; $3 non-NULL: only those bound to board $3. With their boards.
SELECT d.id, d.tenant_id, d.field_key, d.label, d.field_type, d.ui_visibility, d.validation_regex,
       d.description, d.required, d.default_value, d.created_at, d.updated_at,
       coalesce((SELECT array_agg(b.team_id ORDER BY b.team_id)
                   FROM team_custom_fields AS b
                  WHERE b.tenant_id = d.tenant_id AND b.definition_id = d.id), '{}') AS board_ids
  FROM custom_field_defs AS d
 WHERE d.tenant_id = $1
   AND ($2::uuid IS NULL OR d.id = $2)
   AND ($3::uuid IS NULL
        OR EXISTS (SELECT 1 FROM team_custom_fields AS b
                    WHERE b.tenant_id = d.tenant_id AND b.definition_id = d.id AND b.team_id = $3))
 ORDER BY d.field_key;

-- name: field_update
-- The service merged the PATCH into the row (field_key never changes).
UPDATE custom_field_defs
   SET label            = $3,
       field_type       = $4,
       ui_visibility    = $5,
       validation_regex = $6,
       description      = $7,
       required         = $8,
       default_value    = $9,
       updated_at       = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: field_delete
DELETE FROM custom_field_defs
 WHERE tenant_id = $1
   AND id        = $2;

-- name: field_boards_clear
DELETE FROM team_custom_fields
 WHERE tenant_id     = $1
   AND definition_id = $2;

-- name: field_boards_add
-- Bind the definition to boards $3 (the foreign key refuses another tenant's board).
INSERT INTO team_custom_fields (tenant_id, team_id, definition_id)
SELECT $1, b, $2
  FROM unnest($3::uuid[]) AS b
    ON CONFLICT DO NOTHING;
