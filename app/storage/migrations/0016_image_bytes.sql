-- Section 16 (product images): the bytes of image originals and their variants, named
-- "<sha256>-<variant>[-<format>]" (app/storage/images.py), written and committed before the
-- image record that names them; created_at lets the orphan sweep spare bytes under an hour old.
CREATE TABLE IF NOT EXISTS image_bytes (
    name text PRIMARY KEY,
    data bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
