-- Section 13 (issue 14, memory): a notification never changes once made; whether it was read
-- moved out of it. Each notification an earlier release stored with a read_at gets its read in
-- notification_reads (that read_at, kept), and each user an inbox counting their notifications
-- and the unread ones; then the notifications' read_at, updated_at and version columns go.
-- (app.bootstrap's _adopt_legacy_notifications is the same step for the JSON store.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'notifications' AND column_name = 'read_at') THEN
        RETURN;  -- a database made by this release
    END IF;
    EXECUTE $sql$
        INSERT INTO notification_reads (id, user_id, read_at, created_at)
        SELECT id, user_id, read_at, read_at FROM notifications WHERE read_at IS NOT NULL
        ON CONFLICT (id) DO NOTHING
    $sql$;
    EXECUTE $sql$
        INSERT INTO notification_inboxes (id, total, unread, newest, read_through, read_through_at,
                                          created_at, updated_at, version)
        SELECT user_id, count(*), count(*) FILTER (WHERE read_at IS NULL), max(id COLLATE "C"),
               NULL, NULL, date_trunc('second', now()), date_trunc('second', now()), 1
        FROM notifications GROUP BY user_id
        ON CONFLICT (id) DO NOTHING
    $sql$;
    ALTER TABLE notifications DROP COLUMN read_at, DROP COLUMN updated_at, DROP COLUMN version;
END
$$;
