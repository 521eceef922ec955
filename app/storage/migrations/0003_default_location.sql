-- Section 9 (locations): a store made before locations existed gets its default location,
-- "Shop" (MAIN), holding each product's stock; every movement gets its location_id and
-- location_stock_after (= stock_after), every order its location_id. A store with a location is
-- left alone. (app/services/locations.ensure_default_location is the same step for the JSON
-- store, and for a PostgreSQL store emptied since; it runs at every start-up and finds this done.)
DO $$
DECLARE
    alphabet constant text := '0123456789abcdefghjkmnpqrstvwxyz';  -- base.new_id's Crockford digits
    millis bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    shop_id text := '';
    moment timestamptz := date_trunc('second', now());
BEGIN
    IF EXISTS (SELECT 1 FROM locations) THEN
        RETURN;
    END IF;
    -- an id as base.new_id makes them: 10 digits of milliseconds, 16 random ones
    FOR i IN REVERSE 9..0 LOOP
        shop_id := shop_id || substr(alphabet, ((millis >> (5 * i)) & 31)::int + 1, 1);
    END LOOP;
    FOR i IN 1..16 LOOP
        shop_id := shop_id || substr(alphabet, floor(random() * 32)::int + 1, 1);
    END LOOP;
    INSERT INTO locations (id, name, code, kind, address, is_default, status, created_at, updated_at, version)
    VALUES (shop_id, 'Shop', 'MAIN', 'store', NULL, true, 'active', moment, moment, 1);
    INSERT INTO stock_levels (id, product_id, location_id, quantity, created_at, updated_at, version)
    SELECT p.id || ':' || shop_id, p.id, shop_id, p.stock, moment, moment, 1
    FROM products p WHERE p.stock <> 0;
    -- a record kept in an unusual key order lists its keys in extra; it takes the usual order
    -- now, so the new key is not left out of the list
    UPDATE stock_movements
    SET location_id = shop_id, location_stock_after = stock_after,
        extra = CASE WHEN extra IS NULL THEN NULL
                     ELSE NULLIF((extra::jsonb - '__keys__')::text, '{}')::json END
    WHERE location_id IS NULL;
    UPDATE orders
    SET location_id = shop_id,
        extra = CASE WHEN extra IS NULL THEN NULL
                     ELSE NULLIF((extra::jsonb - '__keys__')::text, '{}')::json END
    WHERE location_id IS NULL;
END $$;
