-- Mission Control's board groups, tags and custom field definitions served (issue 14): MC's
-- TagRead and TaskCustomFieldDefinitionRead carry updated_at, which 0017 did not keep.
ALTER TABLE tags ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE custom_field_defs ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- A board group's boards, and the group memory's events in the log (the group memory stream).
CREATE INDEX coord_events_group_idx ON coord_events (tenant_id, group_id, seq) WHERE group_id IS NOT NULL;
