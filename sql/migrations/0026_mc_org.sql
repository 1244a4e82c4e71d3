-- Mission Control's organisation surface (issue 14): users, members, invites and gateways of the
-- tenant (an MC organisation is the tenant). 0017 made org_members and org_invites; MC names a
-- member by a uuid, so a member row gets one. Gateways are MC's OpenClaw gateway records; their
-- tokens are secrets, AES-256-GCM encrypted at rest (clawgate.crypto.SecretBox) like provider keys.

ALTER TABLE org_members ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX org_members_id_uidx ON org_members (tenant_id, id);

CREATE TABLE mc_gateways (
    id                      uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id               uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                    text        NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    url                     text        NOT NULL DEFAULT '',  -- '' on the row of this ClawGate: its URL is the request's
    token                   text        NOT NULL DEFAULT '',  -- aes-gcm:base64(nonce||ciphertext||tag), '' for none
    workspace_root          text        NOT NULL DEFAULT '',
    allow_insecure_tls      boolean     NOT NULL DEFAULT false,
    disable_device_pairing  boolean     NOT NULL DEFAULT false,
    -- The row that is this ClawGate itself (made on first use, one per tenant: the index decides).
    is_self                 boolean     NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX mc_gateways_self_uidx ON mc_gateways (tenant_id) WHERE is_self;
CREATE INDEX mc_gateways_tenant_idx ON mc_gateways (tenant_id, created_at);
