"""The catalog assistant: a question in plain English -> the active products it names -> a reply.

Three small parts, each tested with a table of questions and answers:
- tokenize: the words of a text, lower case, punctuation dropped (amounts kept whole);
- read_question + find_products: the filters a question names (titles, authors, categories,
  books, a price limit, the cheapest) applied together, or else a search for its other words;
- write_reply: a sentence naming exactly the products found, with price and availability.
An optional OpenAI-compatible model (ask_model) may word the reply instead; it is given only the
products found, and any failure of it falls back to the built-in reply.
"""
import json
import re
import secrets
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..storage.base import Query, new_id, timestamp
from . import audit
from . import categories as category_service
from .errors import NotFound

MAX_PRODUCTS = 10
MAX_REPLY = 4000
HISTORY = 10
EVERY = 1_000_000
NOTHING = "I couldn't find anything like that."

# common English words: never a match on their own (with every word under 3 letters)
STOPWORDS = frozenset("""
a about above after again all also am an and any anything are as at be been before being below
book books buy by can cheap cheaper cheapest could did do does each eur euro euros find for from
get got has have having he her here hi hello his how i if in into is it its just less like look
looking me more most my need no not of off on one only or other our out over please price priced
sell selling sells show some something than thank thanks that the their them then there these they
this those to too under up us want was we were what when where which who whom why will with would
you your yours cost costs costing something anything stock available got any have hey
""".split())
LIMIT_WORDS = (("under",), ("below",), ("less", "than"), ("cheaper", "than"))
CURRENCY_WORDS = frozenset(("eur", "euro", "euros", "€", "usd", "dollar", "dollars", "$", "gbp",
                            "pound", "pounds", "£"))
_TOKEN = re.compile(r"[€$£]|\d+(?:[.,]\d{1,2})?|[a-z0-9]+(?:'[a-z]+)?")
_AMOUNT = re.compile(r"^\d+(?:[.,]\d{1,2})?$")


# ---- 1. the tokenizer ---------------------------------------------------------------------------

def tokenize(text):
    """The words of a text: NFKC, lower case, accents kept off, punctuation dropped; an amount
    ("9.50", "9,50") and a currency sign stay one token each; "hitchhiker's" stays one word."""
    text = unicodedata.normalize("NFKC", text or "").lower().replace("’", "'")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return tuple(_TOKEN.findall(text))


def significant(words):
    """The words that may match on their own: 3 letters or more, not a common English word."""
    return [w for w in words if len(w) >= 3 and w not in STOPWORDS and not _AMOUNT.match(w)]


def contains(words, phrase):
    """Whether the phrase's words appear in words, together and in order (a whole name)."""
    n = len(phrase)
    if n == 0 or not significant(phrase):
        return False
    return any(words[i:i + n] == phrase for i in range(len(words) - n + 1))


# ---- 2. the filters -----------------------------------------------------------------------------

@dataclass
class Question:
    """What a question asks, read from its words."""

    words: tuple
    books: bool = False
    below: Decimal | None = None
    cheapest: bool = False
    named: bool = False  # any filter at all (else: search the other words)
    title_ids: set = field(default_factory=set)
    author_names: list = field(default_factory=list)
    category_ids: set | None = None
    category_names: list = field(default_factory=list)


def _amount_after(words, start):
    """The amount at words[start:] ("10", "€10", "10 euros", "9.50 EUR"), or None."""
    rest = list(words[start:start + 3])
    if rest and rest[0] in CURRENCY_WORDS:
        rest = rest[1:]
    if rest and _AMOUNT.match(rest[0]):
        try:
            return Decimal(rest[0].replace(",", "."))
        except InvalidOperation:
            return None
    return None


def price_limit(words):
    """The amount after "under", "below", "less than" or "cheaper than", or None."""
    for i in range(len(words)):
        for phrase in LIMIT_WORDS:
            if tuple(words[i:i + len(phrase)]) == phrase:
                amount = _amount_after(words, i + len(phrase))
                if amount is not None:
                    return amount
    return None


@dataclass(frozen=True)
class _Words:
    title: tuple
    author: tuple
    searchable: frozenset  # stemmed words of title, author and description


_WORDS = {}  # product id -> (the record read, its version, its _Words): words read once per version


def words_of(product):
    """The product's words, tokenized once per version of it (a question reads every product)."""
    hit = _WORDS.get(product["id"])
    if hit is not None and (hit[0] is product or (hit[1] == product.get("version")
                                                   and hit[0].get("updated_at") == product.get("updated_at"))):
        return hit[2]
    if len(_WORDS) > 200_000:
        _WORDS.clear()
    text = " ".join(product.get(k) or "" for k in ("title", "author", "description"))
    words = _Words(tokenize(product["title"]), tokenize(product.get("author") or ""),
                   frozenset(_stem(w) for w in tokenize(text)))
    _WORDS[product["id"]] = (product, product.get("version"), words)
    return words


def _longest(matches):
    """The items of [(words, item)] whose words are no part of another match's longer words:
    "crime fiction" names Crime fiction, not Fiction too; "dune messiah" not Dune too."""
    return [item for words, item in matches
            if not any(len(other) > len(words) and contains(other, words) for other, _ in matches)]


class Catalog:
    """The active products a question is read against, with their titles and authors filed by
    first word and their search words by word (so that a question looks up its own words
    rather than reading every product); built once per version of the products."""

    def __init__(self, products):
        self.products = products
        self.titles = {}  # first word -> [(title words, product id)]
        self.authors = {}  # first word -> [(position, author words, author)]
        self.searchable = {}  # stemmed word -> [(position, product)]
        self.position_of = {}  # product id -> its position
        for position, product in enumerate(products):
            self.position_of[product["id"]] = position
            known = words_of(product)
            if known.title:
                self.titles.setdefault(known.title[0], []).append((known.title, product["id"]))
            if known.author:
                self.authors.setdefault(known.author[0], []).append(
                    (position, known.author, product["author"]))
            for word in known.searchable:
                self.searchable.setdefault(word, []).append((position, product))

    def titles_within(self, words):
        """(title words, id) of the titles made only of these words, in catalog order."""
        present = set(words)
        return [hit for word in present for hit in self.titles.get(word, ())
                if present.issuperset(hit[0])]

    def authors_within(self, words):
        """{author words: the author as first written} of the authors made only of these words,
        in catalog order."""
        present = set(words)
        hits = sorted(hit for word in present for hit in self.authors.get(word, ())
                      if present.issuperset(hit[1]))
        authors = {}
        for _, known, name in hits:
            authors.setdefault(known, name)
        return authors


_CATALOGS = {}  # version of the products -> Catalog (one kept: the latest)


def catalog_of(uow):
    """The active products as a Catalog, kept while no commit changes the products."""
    version = uow.version_of("products")
    kept = _CATALOGS.get(version) if version is not None else None
    if kept is None:
        kept = Catalog(active_products(uow))
        if version is not None:
            _CATALOGS.clear()
            _CATALOGS[version] = kept
    return kept


def read_question(words, products, tree):
    """The filters the words name, against this catalog's titles, authors and categories
    (products: a Catalog, or a list of the active products)."""
    catalog = products if isinstance(products, Catalog) else Catalog(list(products))
    question = Question(words=words)
    question.books = "book" in words or "books" in words
    question.below = price_limit(words)
    question.cheapest = "cheapest" in words
    titles = [(title, pid) for title, pid in catalog.titles_within(words) if contains(words, title)]
    authors = catalog.authors_within(words)
    question.title_ids = set(_longest(titles))
    question.author_names = _longest([(t, name) for t, name in authors.items() if contains(words, t)])
    named = []
    for category in tree.by_id.values():
        tokens = tokenize(category["name"])
        if tokens in (("book",), ("books",)):
            continue  # "books" asks for the kind book, never for a category
        if contains(words, tokens):
            named.append((tokens, category))
    for category in _longest(named):
        question.category_names.append(category["name"])
        question.category_ids = (question.category_ids or set()) | set(tree.subtree(category["id"]))
    question.named = bool(question.books or question.below is not None or question.cheapest
                          or question.title_ids or question.author_names or question.category_names)
    return question


def find_products(question, products):
    """The products the question asks for: every filter it names applied together (several
    titles, authors or categories: any of them), or else the best matches of its other words;
    at most MAX_PRODUCTS, by price then title when it asks about price, else by title."""
    catalog = products if isinstance(products, Catalog) else Catalog(list(products))
    found = catalog.products
    if question.named:
        if question.title_ids:  # from the titles' index, in catalog order
            found = [found[i] for i in sorted(catalog.position_of[pid] for pid in question.title_ids
                                              if pid in catalog.position_of)]
        if question.author_names:
            wanted = {tokenize(a) for a in question.author_names}
            if found is catalog.products:  # from the authors' index, in catalog order
                found = [found[i] for i in sorted(
                    position for words in wanted for position, known, _ in catalog.authors.get(words[0], ())
                    if known == words)]
            else:
                found = [p for p in found if words_of(p).author in wanted]
        if question.category_ids is not None:
            found = [p for p in found if p.get("category_id") in question.category_ids]
        if question.books:
            found = [p for p in found if p["kind"] == "book"]
        if question.below is not None:
            found = [p for p in found if Decimal(p["price"]) < question.below]
    else:
        words = {_stem(w) for w in significant(question.words)}
        scores = {}  # catalog position -> (how many of the words the product has, product)
        for word in words:
            for position, p in catalog.searchable.get(word, ()):
                scores[position] = (scores.get(position, (0, p))[0] + 1, p)
        scored = [scores[position] for position in sorted(scores)]
        best = max((s for s, _ in scored), default=0)
        found = [p for s, p in scored if s == best]
    if question.below is not None or question.cheapest:
        found = sorted(found, key=lambda p: (Decimal(p["price"]), _title_key(p), p["id"]))
    else:
        found = sorted(found, key=lambda p: (_title_key(p), p["id"]))
    if question.cheapest:
        found = found[:1]
    return found[:MAX_PRODUCTS]


def _stem(word):
    """"wizards" and "wizard" are one word to the free search."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _title_key(product):
    return " ".join(words_of(product).title)


# ---- 3. the reply writer ------------------------------------------------------------------------

def describe(product, currency):
    """'The Quiet Shore (8.50 EUR, in stock)': title, price and availability, never a quantity."""
    availability = "in stock" if product.get("stock", 0) > 0 else "out of stock"
    return f"{product['title']} ({product['price']} {currency}, {availability})"


def _joined(parts):
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def write_reply(question, found, currency):
    """One plain sentence naming every product found, and no other."""
    if not found:
        return NOTHING
    listed = _joined([describe(p, currency) for p in found])
    if question.cheapest:
        return f"The cheapest is {listed}."
    if question.author_names and len(question.author_names) == 1:
        return f"By {question.author_names[0]} we have {listed}."
    if question.category_names and len(question.category_names) == 1 and not question.title_ids:
        return f"In {question.category_names[0]} we have {listed}."
    return f"We have {listed}."


# ---- the optional language model -----------------------------------------------------------------

SYSTEM = ("You are the assistant of a small shop. Answer the customer's question using only the "
          "products in the JSON array below, which the shop's catalog search found for it. Name "
          "products by their exact title with price and currency, and say 'in stock' or 'out of "
          "stock'; never state quantities and never mention any product that is not in the array. "
          "If the array is empty, say plainly that nothing like that was found.")


def ask_model(url, model, key, timeout, history, message, public_products):
    """The model's reply (trimmed, at most MAX_REPLY characters), or None on any failure: a
    timeout, a connection error, a non-2xx answer or one without choices[0].message.content."""
    messages = [{"role": "system", "content": SYSTEM + "\n\nProducts: " +
                 json.dumps(public_products, ensure_ascii=False, default=str)}]
    messages += [{"role": m["role"], "content": m["content"]} for m in history[-HISTORY:]]
    messages.append({"role": "user", "content": message})
    body = json.dumps({"model": model, "stream": False, "messages": messages}).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url.rstrip("/") + "/chat/completions", data=body,
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read(1_000_000).decode("utf-8"))
        content = answer["choices"][0]["message"]["content"]
    except (OSError, ValueError, KeyError, IndexError, TypeError, urllib.error.URLError):
        return None  # OSError covers timeouts and refused connections; never log the key
    if not isinstance(content, str) or not content.strip():
        return None
    return content.strip()[:MAX_REPLY]


# ---- conversations -------------------------------------------------------------------------------

def new_conversation_id():
    """Sorts by creation (its new_id head) and cannot be guessed (its random tail)."""
    return new_id() + secrets.token_urlsafe(12)


def get_conversation(uow, conversation_id, user, read_all=False, continuing=False):
    """The conversation this caller may read (or, continuing, continue): its owner; for one
    started anonymously, any anonymous caller; to read, an admin (read_all). Else 404."""
    conversation = uow.conversations.get(conversation_id)
    if conversation is None:
        raise NotFound("No conversation with this id.")
    owner = conversation.get("user_id")
    caller = user["id"] if user else None
    if owner == caller or (read_all and not continuing):
        return conversation
    raise NotFound("No conversation with this id.")


def active_products(uow):
    """Every active product: the only ones the assistant ever looks at."""
    items, _ = uow.products.list(Query(filters={"status": "active"}, limit=EVERY))
    return items


def answer(uow, message, currency):
    """(question, products found, built-in reply) for a message, from the committed catalog."""
    catalog = catalog_of(uow)
    words = tokenize(message)
    question = read_question(words, catalog, category_service.Tree(uow))
    found = find_products(question, catalog)
    return question, found, write_reply(question, found, currency)


def record_exchange(uow, conversation_id, user, message, reply, public_products):
    """Append the user's message and the reply to the conversation (started when conversation_id
    is None); the conversation as stored."""
    now = timestamp()
    entries = [{"role": "user", "content": message, "products": [], "at": now},
               {"role": "assistant", "content": reply, "products": public_products, "at": now}]
    if conversation_id is None:
        conversation = {"id": new_conversation_id(), "user_id": user["id"] if user else None,
                        "messages": entries}
        _audit_exchange(uow, "conversation.create", conversation["id"])
        return uow.conversations.add(conversation)
    conversation = get_conversation(uow, conversation_id, user, continuing=True)
    conversation["messages"] = list(conversation.get("messages") or []) + entries
    _audit_exchange(uow, "conversation.update", conversation["id"])
    return uow.conversations.update(conversation)


def _audit_exchange(uow, action, conversation_id):
    # the audit entry names the conversation; its messages are the conversation's to keep, not the log's
    audit.describe(uow, action, "conversation", conversation_id, changes=None)
