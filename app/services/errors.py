"""Named domain errors raised by services and storage; app/errors.py turns them into HTTP."""


class DomainError(Exception):
    """Base of every error the rules can raise; `code` is the stable machine word."""

    code = "error"
    title = "Error"

    def __init__(self, detail=None, errors=None, **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra


class ValidationFailed(DomainError):
    code = "validation_error"
    title = "Validation failed"


class PaymentAmountMismatch(DomainError):
    code = "payment_amount_mismatch"
    title = "Payment amount does not match the order total"


class NotFound(DomainError):
    code = "not_found"
    title = "Not found"


class Unauthorized(DomainError):
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(DomainError):
    code = "forbidden"
    title = "Forbidden"


class Conflict(DomainError):
    code = "conflict"
    title = "Conflict"


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    title = "Insufficient stock"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Invalid transition"


class DuplicateValue(Conflict):
    """A unique field (SKU, barcode, username) is already taken."""

    title = "Duplicate value"

    def __init__(self, field, detail=None):
        super().__init__(detail or f"Another record already has this {field}.",
                         errors={field: ["Already in use."]})
        self.field = field
        self.code = {"sku": "duplicate_sku", "barcode": "duplicate_barcode",
                     "username": "duplicate_username", "isbn": "duplicate_isbn",
                     "name": "duplicate_name", "slug": "duplicate_slug",
                     "code": "duplicate_code", "email": "duplicate_email"}.get(field, "duplicate_value")


class LastAdmin(Conflict):
    code = "last_admin"
    title = "The last active admin must stay"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    title = "Idempotency key reused with another body"


class OrderNotDeliverable(Conflict):
    code = "order_not_deliverable"
    title = "Order cannot be delivered"


class DeliveryExists(Conflict):
    code = "delivery_exists"
    title = "Order already has an active delivery"


class BarcodeExists(Conflict):
    code = "barcode_exists"
    title = "Product already has a barcode"


class PreconditionFailed(DomainError):
    code = "precondition_failed"
    title = "Precondition failed"


class RateLimited(DomainError):
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after, detail=None):
        super().__init__(detail or "Too many attempts; try again later.")
        self.retry_after = max(1, int(retry_after))


class StorageBusy(DomainError):
    code = "storage_busy"
    title = "Storage busy"


class ImageTooLarge(DomainError):
    code = "image_too_large"
    title = "Image too large"


class NotAnImage(ValidationFailed):
    code = "invalid_image"
    title = "Not an image"


class NotPrintable(Conflict):
    """The product's only code (its SKU) has characters Code 128 cannot carry."""

    code = "not_printable"
    title = "No printable code"


class TooManyRows(DomainError):
    """An import's file has more rows than SHOP_IMPORT_MAX_ROWS (section 15)."""

    code = "too_many_rows"
    title = "Too many rows"


class ScannerUnavailable(DomainError):
    """zbar (Debian's libzbar0) is not installed on this server."""

    code = "scanner_unavailable"
    title = "Barcode scanner unavailable"


class InvalidInvite(ValidationFailed):
    """An unknown, used, revoked or expired invite code: one answer for all of them."""

    code = "invalid_invite"
    title = "Invalid invite"


class InvalidToken(ValidationFailed):
    """A used, voided, expired or unknown password reset token: one answer for all of them."""

    code = "invalid_token"
    title = "Invalid token"
# ---- section 14: the category tree

class CategoryCycle(Conflict):
    code = "category_cycle"
    title = "A category cannot sit under itself"


class CategoryTooDeep(Conflict):
    code = "category_too_deep"
    title = "Categories nest at most five levels"


class CategoryNotEmpty(Conflict):
    code = "category_not_empty"
    title = "Category still in use"


# ---- section 9: locations


class DefaultLocation(Conflict):
    """The default location stays the default (and active) until another is made the default."""

    code = "default_location"
    title = "The default location must stay"


class LocationArchived(Conflict):
    code = "location_archived"
    title = "Location archived"


class LocationNotEmpty(Conflict):
    code = "location_not_empty"
    title = "Location still holds stock"


class LocationInUse(Conflict):
    code = "location_in_use"
    title = "A pending transfer names this location"


# ---- section 11: customers and the storefront

class CustomerErased(Conflict):
    code = "customer_erased"
    title = "Customer erased"


class CustomerHasOpenOrders(Conflict):
    code = "customer_has_open_orders"
    title = "Customer has open orders"


class StorefrontKeyRequired(Unauthorized):
    code = "storefront_key_required"
    title = "Storefront key required"


class InvalidStorefrontKey(Unauthorized):
    code = "invalid_storefront_key"
    title = "Invalid storefront key"


# ---- section 10: vendors and purchasing


class VendorArchived(Conflict):
    code = "vendor_archived"
    title = "Vendor archived"


class SupplyExists(Conflict):
    code = "supply_exists"
    title = "The vendor already supplies this product"


class OverReceipt(Conflict):
    """A receipt line is over what its purchase order line still awaits; `overages` lists them."""

    code = "over_receipt"
    title = "More received than outstanding"


# ---- section 16: product images

class UnsupportedImage(DomainError):
    """Not a JPEG, PNG or WebP that Pillow opens (415)."""

    code = "unsupported_image"
    title = "Unsupported image"


class TooManyImages(Conflict):
    code = "too_many_images"
    title = "Too many images"


class DuplicateImage(Conflict):
    """The product already has an image of these bytes; `image_id` names it."""

    code = "duplicate_image"
    title = "Duplicate image"


# ---- section 13: webhooks

class WebhookUrlNotAllowed(ValidationFailed):
    """The URL's host is or resolves to an address that is not global unicast (the SSRF guard)."""

    code = "webhook_url_not_allowed"
    title = "Webhook URL not allowed"


class WebhookInactive(Conflict):
    code = "webhook_inactive"
    title = "Webhook inactive"
