-- From here on tables and indexes are made from the collections declared in
-- app/storage/declarations.py (postgres.sync_declared); a look-up's index is named
-- <table>_<column>_idx. The first schema's look-up indexes get those names.
ALTER INDEX IF EXISTS stock_movements_product_idx RENAME TO stock_movements_product_id_idx;
ALTER INDEX IF EXISTS deliveries_order_idx RENAME TO deliveries_order_id_idx;
ALTER INDEX IF EXISTS sessions_user_idx RENAME TO sessions_user_id_idx;
