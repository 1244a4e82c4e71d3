-- The version of a tenant's coordination state (store/coord_events.py `version`): a cache built from
-- it stays right while no event of the tenant has a larger seq and none more comes from a transaction
-- at or after the oldest one open when it was built. The second count reads this index.
CREATE INDEX coord_events_xid_idx ON coord_events (tenant_id, xid);
