"""`flask backup DEST` copies a JSON store that opens elsewhere with every committed record."""
import pytest

from app.storage.jsonfile import JsonFileStore
from tests.factories import create_product, place_order

pytestmark = pytest.mark.backends("json")


def test_backup_while_running_opens_with_every_committed_order(app, client, auth, tmp_path):
    product = create_product(client, auth["manager"], stock=30)
    orders = [place_order(client, auth["clerk"], [(product, 1)]) for _ in range(5)]
    dest = tmp_path / "backup"
    result = app.test_cli_runner().invoke(args=["backup", str(dest)])
    assert result.exit_code == 0, result.output
    assert (dest / "secret.key").exists()

    copy = JsonFileStore(str(dest))
    with copy.reader() as uow:
        assert uow.products.get(product["id"])["stock"] == 25
        for order in orders:
            assert uow.orders.get(order["id"])["number"] == order["number"]
        assert sum(m["delta"] for m in uow.movements.for_product(product["id"])) == 25
