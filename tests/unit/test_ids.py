"""Record ids: 26 Crockford base32 digits of a ULID (48 bits of milliseconds, 80 of a counter
started at random), so ids sort by creation, across processes through ids_after."""
import base64
import time

from app.storage import base

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
RFC4648_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", CROCKFORD.encode())


def value_of(record_id):
    return int(record_id.translate(str.maketrans(CROCKFORD, "0123456789abcdefghijklmnopqrstuv")), 32)


def reference_encoding(value):
    """The 130-bit value as the standard library's base32 writes it, in Crockford's digits."""
    return base64.b32encode(value.to_bytes(20, "big"))[6:].translate(RFC4648_TO_CROCKFORD).decode()


def test_ids_are_26_crockford_digits_of_the_millisecond_they_were_made_in():
    before = time.time()
    made = [base.new_id() for _ in range(2000)]
    after = time.time()
    for record_id in made:
        assert len(record_id) == 26 and set(record_id) <= set(CROCKFORD)
        assert reference_encoding(value_of(record_id)) == record_id
        assert int(before * 1000) <= value_of(record_id) >> 80 <= int(after * 1000) + 1
        assert int(before) <= base.id_seconds(record_id) <= int(after) + 1
    assert made == sorted(made) and len(set(made)) == len(made)  # in one millisecond too


def test_the_encoding_writes_every_bit_as_the_standard_base32_does():
    """Edge values (all zeros, all ones, each 10-bit pair's boundary) through the encoder's tables."""
    for value in (0, 1, 1023, 1024, (1 << 80) - 1, 1 << 80, (1 << 130) - 1, 0x1F << 125,
                  *(1 << bit for bit in range(130))):
        written = "".join(base._PAIRS[(value >> s) & 1023] for s in base._PAIR_SHIFTS)
        assert written == reference_encoding(value)


def test_ids_after_an_id_from_another_process_sort_after_it():
    later = reference_encoding(((time.time_ns() // 1_000_000 + 60_000) << 80) | 12345)  # a minute ahead
    base.ids_after(later)
    assert base.new_id() > later
