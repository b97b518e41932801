"""A seeded generator of a synthetic customer-support intent dataset (the demo's task).

Each message is built from an intent-specific core template, slot fillers (products, order
numbers, dates, amounts, ...), optional greeting, neutral context and closing, and surface
noise (casing, typos). The splits are built to measure generalisation, not recall:

* every intent has core templates that appear **only** in validation or only in test;
* some slot fillers (products, names, cities, devices, plans) never appear in train;
* no normalised text (see :func:`normalise`) occurs in more than one split.

Unlabeled text for pretraining the base model comes from the same message generator (with
fresh fillers, no label attached, none of it equal to a labelled message, all templates
included: the base "knows the language", as a pretrained LM would), half of those messages
followed by a support agent's reply (``Customer: ...\nAgent: ...``), plus generic
support-desk sentences. The replies teach the base what a message is about, as real
pretraining text does; the base never sees an intent label or the ``Message:/Intent:``
prompt format, and scores near chance on the task.

Everything is driven by one ``random.Random(seed)``; no global random state is touched.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: Intent names, in the order the demo task lists its choices. Distinct first letters keep
#: the choices distinguishable from their first byte.
INTENTS: tuple[str, ...] = ("login", "billing", "refund", "shipping", "cancellation")

#: The channels a message arrives by (the demo's ``--slice channel``).
CHANNELS: tuple[str, ...] = ("email", "chat")

#: Longest message in characters; with the prompt template it stays well under 256 bytes.
MAX_TEXT_CHARS = 190

_CORE_TEMPLATES: Mapping[str, tuple[str, ...]] = {
    "login": (
        "I can't log in to my account",
        "my password reset email never arrives",
        "it says my password is wrong but I just changed it",
        "I'm locked out of my account after too many attempts",
        "the two-factor code is not working when I sign in",
        "I forgot my password and the reset link has expired",
        "I can't sign into the app on my {device}",
        "the login page keeps saying my password is invalid",
        "how do I reset the password for {email}",
        "my account got locked {when} and I can't log in",
        "the verification code for signing in never shows up on my {device}",
        "every time I try to log in it sends me back to the sign in screen",
        "I changed my email to {email} and now I can't sign in",
        "my username is not recognised when I try to sign in",
    ),
    "billing": (
        "I was charged twice for the {product}",
        "there is a charge of {amount} on my card that I don't recognise",
        "my invoice from {date} looks wrong",
        "why did my bill go up to {amount} this month",
        "please update the credit card on file",
        "how do I change my payment method",
        "I need a copy of the invoice for order {order}",
        "the {plan} plan charge on my bill is higher than advertised",
        "you billed me {amount} but I'm on the {plan} plan",
        "my payment keeps getting declined at checkout",
        "can I get a receipt for my last payment",
        "I see an unexpected charge on my bill from {date}",
        "there is a double charge on my credit card for order {order}",
        "my card expired, where do I enter the new one for my payments",
    ),
    "refund": (
        "I want a refund for the {product}",
        "I returned the {product} {when}, when will I get my money back",
        "can I get my money back for order {order}",
        "the {product} arrived broken and I'd like a refund",
        "it's been two weeks and my refund still hasn't shown up",
        "how long does a refund take to process",
        "please refund the {amount} for the item I sent back",
        "I'd like to return the {product} and be reimbursed",
        "the {product} doesn't work, I want to return it for a full refund",
        "you promised a refund by {date} but I haven't received it",
        "how do I request a refund for a damaged {product}",
        "I need a return label for order {order} so I can get reimbursed",
        "I was told I'd get a refund of {amount}, where is it",
        "I'm not happy with the {product}, I want to return it for a refund",
    ),
    "shipping": (
        "where is my order {order}, it hasn't been delivered",
        "my package hasn't arrived yet",
        "tracking for order {order} hasn't updated since {date}",
        "can you ship the {product} to a different address",
        "the courier says delivered but I never got the {product}",
        "how long does delivery take to {city}",
        "do you ship internationally to {city}",
        "the delivery of my {product} seems to be stuck",
        "the delivery date for order {order} keeps getting pushed back",
        "can I change the shipping address for order {order}",
        "my package was delivered to the wrong house",
        "when will the {product} ship",
        "is express delivery available for the {product}",
        "my shipment was supposed to arrive {when}",
    ),
    "cancellation": (
        "please cancel my subscription",
        "I want to cancel order {order}",
        "how do I cancel my account for good",
        "cancel the {plan} plan before it renews on {date}",
        "I no longer need the {product}, please cancel the order",
        "please cancel my membership effective immediately",
        "I'd like to cancel my contract",
        "don't renew my {plan} subscription",
        "how can I cancel before the order goes out",
        "close my account and end my subscription",
        "I ordered the {product} by mistake, cancel it please",
        "unsubscribe me from the {plan} subscription",
        "I want to end my subscription at the end of this month",
        "can you cancel order {order}, I changed my mind",
    ),
}

# Slot fillers. Part of each list is held out of train (see _split_fillers).
_FILLERS: Mapping[str, tuple[str, ...]] = {
    "product": (
        "wireless headphones",
        "coffee maker",
        "running shoes",
        "desk lamp",
        "yoga mat",
        "phone case",
        "air fryer",
        "backpack",
        "smart watch",
        "blender",
        "winter jacket",
        "bluetooth speaker",
        "office chair",
        "water bottle",
        "electric kettle",
        "gaming mouse",
        "sofa cover",
        "rice cooker",
        "camping tent",
        "hair dryer",
    ),
    "device": (
        "iPhone",
        "Android phone",
        "laptop",
        "tablet",
        "work computer",
        "Mac",
        "Chromebook",
        "Pixel",
        "iPad",
        "Windows PC",
    ),
    "plan": ("Basic", "Premium", "Family", "Pro", "Starter", "Business", "Plus", "Student"),
    "name": (
        "Anna",
        "Ben",
        "Carlos",
        "Dana",
        "Emeka",
        "Fatima",
        "George",
        "Hana",
        "Ivan",
        "Julia",
        "Kenji",
        "Leila",
        "Marco",
        "Nora",
        "Omar",
        "Priya",
    ),
    "city": (
        "Berlin",
        "Toronto",
        "Lyon",
        "Austin",
        "Osaka",
        "Dublin",
        "Madrid",
        "Oslo",
        "Lagos",
        "Melbourne",
        "Denver",
        "Porto",
    ),
}

_GREETINGS: tuple[str, ...] = (
    "",
    "",
    "",
    "Hi",
    "Hello",
    "Hey there",
    "Good morning",
    "Dear support",
    "Hi team",
    "Hello, hope you're well",
)
_CLOSINGS: tuple[str, ...] = (
    "",
    "",
    "",
    "Thanks",
    "Thank you!",
    "Please help.",
    "Appreciate it.",
    "Cheers",
    "Can you help?",
    "Regards, {name}",
    "Thanks in advance.",
)
# Intent-neutral context sentences, used to make long variants.
_CONTEXT: tuple[str, ...] = (
    "I've been a customer for {years} years.",
    "This is the second time I'm writing about this.",
    "My name is {name}.",
    "I'm writing from my {device}.",
    "It's quite urgent.",
    "I already contacted you {when}.",
    "Nobody has answered my last email.",
    "I'm travelling this week.",
)
# Generic support-desk sentences for the unlabeled pretraining text.
_GENERIC: tuple[str, ...] = (
    "Thanks for reaching out, {name}.",
    "We're sorry for the inconvenience.",
    "Your ticket {order} has been created.",
    "Our team will get back to you within {hours} hours.",
    "Could you share your order number with us?",
    "Is there anything else I can help you with?",
    "Have a great day!",
    "Orders usually leave our warehouse within {days} business days.",
    "Returns are accepted within {days} days of delivery.",
    "You can manage your account settings from the profile page.",
    "We have forwarded your request to the right team.",
    "Please allow {days} business days for the change to take effect.",
    "I have updated your ticket with the details you sent.",
    "Our support hours are 9am to 5pm, Monday to Friday.",
    "Kind regards, {name} from the support team.",
    "Let me look into this for you.",
    "I understand how frustrating this must be.",
    "Can you confirm the email address on the account?",
    "We appreciate your patience, {name}.",
    "The {product} is back in stock.",
)

# Agent replies per intent, for the unlabeled customer/agent exchanges.
_REPLIES: Mapping[str, tuple[str, ...]] = {
    "login": (
        "I've sent a new password reset link to your email.",
        "I've unlocked your account, please try to sign in again.",
        "Please clear your browser cache and try to log in again.",
        "The verification code can take a few minutes to arrive.",
        "Your username is the email address you registered with.",
    ),
    "billing": (
        "I can see the duplicate charge on your card and have flagged it.",
        "Your latest invoice is attached to this email.",
        "You can change your payment method under account settings.",
        "The new price on your bill comes from the updated {plan} plan rates.",
        "I've checked your payments and the charge of {amount} is correct.",
    ),
    "refund": (
        "I've started the refund; the money should be back in {days} days.",
        "Once we receive the item, your refund will be processed.",
        "Here is your return label, the refund follows once it arrives.",
        "Your refund of {amount} was issued {when}.",
        "I'm sorry about the {product}; you will get your money back.",
    ),
    "shipping": (
        "Your package is with the courier and should arrive in {days} days.",
        "I've updated the delivery address on your order.",
        "You'll get a tracking number by email when the order ships.",
        "I've asked the courier to look into the delivery.",
        "Express delivery to {city} takes {days} business days.",
    ),
    "cancellation": (
        "Your subscription has been cancelled and won't renew.",
        "I've cancelled the order; you won't be charged.",
        "Your account will be closed at the end of this month.",
        "I've cancelled your {plan} plan as requested.",
        "The cancellation is confirmed, sorry to see you go.",
    ),
}

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_RELATIVE_DATES = ("yesterday", "last week", "on Monday", "last Friday", "two days ago", "today")


@dataclass(frozen=True)
class DemoDataset:
    """The generated demo data.

    Attributes:
        train: labelled rows ``{"id", "text", "label", "channel"}`` for fine-tuning
            (``channel``: ``email`` or ``chat``, see :func:`_message`).
        validation: labelled rows for choosing settings during development.
        test: labelled rows the demo evaluates on.
        unlabeled: plain texts for pretraining the base model (no labels, no prompt format).
        seed: the seed everything was generated from.
    """

    train: tuple[dict[str, str], ...]
    validation: tuple[dict[str, str], ...]
    test: tuple[dict[str, str], ...]
    unlabeled: tuple[str, ...]
    seed: int

    def split(self, name: str) -> tuple[dict[str, str], ...]:
        """Return one labelled split by name (``train``, ``validation`` or ``test``)."""
        if name not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {name!r}; expected train, validation or test")
        return getattr(self, name)


def normalise(text: str) -> str:
    """Casefold, drop punctuation and collapse whitespace; used to keep splits disjoint."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


# ---- fillers and surface noise ----


@dataclass(frozen=True)
class _FillerPools:
    """Which fillers a split may draw from."""

    values: Mapping[str, tuple[str, ...]]


def _split_fillers(rng: random.Random) -> tuple[_FillerPools, _FillerPools]:
    """Hold roughly a third of each filler list out of train; evaluation splits see all."""
    seen: dict[str, tuple[str, ...]] = {}
    for slot, values in _FILLERS.items():
        shuffled = list(values)
        rng.shuffle(shuffled)
        seen[slot] = tuple(shuffled[len(values) // 3 :])
    return _FillerPools(seen), _FillerPools(dict(_FILLERS))


def _order_number(rng: random.Random) -> str:
    number = rng.randint(10000, 99999)
    return rng.choice((f"#{number}", f"{number}", f"A-{number}", f"no. {number}"))


def _date(rng: random.Random) -> str:
    """A calendar date, as a noun phrase ("March 3", "2024-05-12")."""
    if rng.random() < 0.7:
        return f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}"
    return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _when(rng: random.Random) -> str:
    """A time adverbial ("on March 3", "yesterday")."""
    if rng.random() < 0.5:
        return f"on {_date(rng)}"
    return rng.choice(_RELATIVE_DATES)


def _amount(rng: random.Random) -> str:
    value = rng.randint(5, 400)
    cents = rng.choice(("", ".99", ".50", f".{rng.randint(10, 99)}"))
    return rng.choice((f"${value}{cents}", f"€{value}{cents}", f"{value} dollars", f"£{value}"))


def _email(rng: random.Random, pools: _FillerPools) -> str:
    name = rng.choice(pools.values["name"]).lower()
    return f"{name}{rng.randint(1, 99)}@{rng.choice(('mail.com', 'example.org', 'inbox.net'))}"


def _fill(template: str, rng: random.Random, pools: _FillerPools) -> str:
    """Replace every ``{slot}`` in ``template`` with a random filler from ``pools``."""

    def one(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot in pools.values:
            return rng.choice(pools.values[slot])
        if slot == "order":
            return _order_number(rng)
        if slot == "date":
            return _date(rng)
        if slot == "when":
            return _when(rng)
        if slot == "amount":
            return _amount(rng)
        if slot == "email":
            return _email(rng, pools)
        if slot == "years":
            return str(rng.randint(2, 12))
        if slot in ("hours", "days"):
            return str(rng.randint(2, 14))
        raise ValueError(f"template {template!r}: unknown slot {slot!r}")

    return re.sub(r"\{(\w+)\}", one, template)


def _typo(word: str, rng: random.Random) -> str:
    """Swap, drop or double one inner letter of ``word``."""
    i = rng.randrange(1, len(word) - 2)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _add_typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    for i in rng.sample(candidates, k=min(len(candidates), rng.randint(1, 2))):
        words[i] = _typo(words[i], rng)
    return " ".join(words)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _message(core: str, rng: random.Random, pools: _FillerPools) -> tuple[str, str]:
    """A filled core template as an email or a chat message: ``(channel, text)``.

    Emails carry a greeting, often one or two neutral context sentences and a closing,
    in sentence case; chat messages are the bare request, often lower-case, more often
    with typos and without final punctuation. So channels differ in length and style.
    """
    channel = rng.choice(CHANNELS)
    body = _fill(core, rng, pools)
    if channel == "chat":
        text = body if rng.random() < 0.6 else _sentence(body)
        text += rng.choice(("", "", "?", "!", "..."))
        if rng.random() < 0.5:
            text = text.lower()
        if rng.random() < 0.4:
            text = _add_typos(text, rng)
        return channel, text
    body = _sentence(body) + rng.choice((".", "?", "!", "..."))
    greeting = rng.choice([g for g in _GREETINGS if g]) + rng.choice((",", "!", ""))
    context = [_fill(c, rng, pools) for c in rng.sample(_CONTEXT, k=rng.choice((0, 1, 1, 2)))]
    closing = _fill(rng.choice([c for c in _CLOSINGS if c]), rng, pools)
    before = rng.random() < 0.5

    def assemble() -> str:
        middle = [*context, body] if before else [body, *context]
        return " ".join([greeting, *middle, closing])

    text = assemble()
    while len(text) > MAX_TEXT_CHARS and context:  # drop context until it fits
        context.pop()
        text = assemble()
    if len(text) > MAX_TEXT_CHARS:
        text = f"{greeting} {body}" if len(greeting) + len(body) < MAX_TEXT_CHARS else body
    if rng.random() < 0.05:
        text = text.upper()
    if rng.random() < 0.15:
        text = _add_typos(text, rng)
    return channel, text


# ---- splits ----


def _split_templates(rng: random.Random, per_split: int) -> dict[str, dict[str, tuple[str, ...]]]:
    """For each split, the core templates it may use, per intent.

    ``per_split`` templates of each intent are used only by validation and as many only by
    test; train gets the rest. Validation and test may also use train's templates (with
    fresh fillers), so they measure both kinds of generalisation.
    """
    out: dict[str, dict[str, tuple[str, ...]]] = {"train": {}, "validation": {}, "test": {}}
    for intent in INTENTS:
        templates = list(_CORE_TEMPLATES[intent])
        rng.shuffle(templates)
        test_only = templates[:per_split]
        validation_only = templates[per_split : 2 * per_split]
        train = templates[2 * per_split :]
        out["train"][intent] = tuple(train)
        out["validation"][intent] = tuple(validation_only)
        out["test"][intent] = tuple(test_only)
    return out


def _labelled_split(
    name: str,
    size: int,
    rng: random.Random,
    templates: dict[str, dict[str, tuple[str, ...]]],
    pools: _FillerPools,
    taken: set[str],
    held_out_share: float,
) -> tuple[dict[str, str], ...]:
    """Generate ``size`` rows, balanced over intents, whose normalised text is not taken."""
    rows: list[dict[str, str]] = []
    for k in range(size):
        intent = INTENTS[k % len(INTENTS)]
        own = templates[name][intent]
        for _attempt in range(1000):
            use_own = name == "train" or rng.random() < held_out_share
            core = rng.choice(own if use_own else templates["train"][intent])
            channel, text = _message(core, rng, pools)
            key = normalise(text)
            if key not in taken:
                break
        else:  # pragma: no cover - the filler space is far larger than any split
            raise RuntimeError(f"could not generate a new {intent!r} message for {name}")
        taken.add(key)
        rows.append({"text": text, "label": intent, "channel": channel})
    rng.shuffle(rows)
    return tuple({"id": f"{name}-{i:05d}", **row} for i, row in enumerate(rows))


def _unlabeled(
    size: int, rng: random.Random, pools: _FillerPools, taken: set[str], dialogue_share: float
) -> tuple[str, ...]:
    """Messages of every template (no label), customer/agent exchanges and generic text."""
    texts: list[str] = []
    while len(texts) < size:
        kind = rng.random()
        if kind < 0.7:
            intent = rng.choice(INTENTS)
            _, text = _message(rng.choice(_CORE_TEMPLATES[intent]), rng, pools)
            if normalise(text) in taken:
                continue
            if kind < 0.7 * dialogue_share:
                reply = _fill(rng.choice(_REPLIES[intent]), rng, pools)
                text = f"Customer: {text}\nAgent: {reply}"
        else:
            count = rng.randint(1, 3)
            text = " ".join(_fill(s, rng, pools) for s in rng.sample(_GENERIC, k=count))
        texts.append(text)
    return tuple(texts)


def generate_dataset(
    seed: int = 0,
    *,
    n_train: int = 2500,
    n_validation: int = 250,
    n_test: int = 300,
    n_unlabeled: int = 8000,
    held_out_templates: int = 2,
    held_out_share: float = 0.5,
    dialogue_share: float = 0.5,
) -> DemoDataset:
    """Generate the demo dataset deterministically from ``seed``.

    Args:
        seed: seed of the one ``random.Random`` that drives everything.
        n_train: number of training rows (balanced over :data:`INTENTS`).
        n_validation: number of validation rows.
        n_test: number of test rows.
        n_unlabeled: number of unlabeled pretraining texts.
        held_out_templates: core templates per intent reserved for validation only, and as
            many for test only.
        held_out_share: share (0..1) of validation/test rows built from their reserved
            templates; the rest use train's templates with fresh, partly unseen fillers.
        dialogue_share: share (0..1) of unlabeled messages followed by an agent's reply
            (``Customer: ...\nAgent: ...``), which teaches the base what a message is about
            without naming an intent label.

    Returns:
        The dataset; identical for identical arguments.

    Raises:
        ValueError: if a size is not positive or a share is outside [0, 1].
    """
    sizes = {"n_train": n_train, "n_validation": n_validation, "n_test": n_test}
    for field_name, value in sizes.items():
        if value < len(INTENTS):
            raise ValueError(f"{field_name} must be at least {len(INTENTS)}, got {value}")
    for field_name, share in (
        ("held_out_share", held_out_share),
        ("dialogue_share", dialogue_share),
    ):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{field_name} must be in [0, 1], got {share}")
    smallest = min(len(t) for t in _CORE_TEMPLATES.values())
    if not 1 <= held_out_templates <= (smallest - 2) // 2:
        raise ValueError(
            f"held_out_templates must be in [1, {(smallest - 2) // 2}], got {held_out_templates}"
        )
    rng = random.Random(seed)
    train_pool, eval_pool = _split_fillers(rng)
    templates = _split_templates(rng, held_out_templates)
    taken: set[str] = set()
    # Test first, so that its messages are the ones kept unique when collisions happen.
    test = _labelled_split("test", n_test, rng, templates, eval_pool, taken, held_out_share)
    validation = _labelled_split(
        "validation", n_validation, rng, templates, eval_pool, taken, held_out_share
    )
    train = _labelled_split("train", n_train, rng, templates, train_pool, taken, held_out_share)
    unlabeled = _unlabeled(n_unlabeled, rng, eval_pool, taken, dialogue_share)
    return DemoDataset(train, validation, test, unlabeled, seed)


def write_jsonl(rows: Iterable[Mapping[str, object]], path: str | Path) -> None:
    """Write ``rows`` as JSON Lines (UTF-8), atomically: temp file in the folder + rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def label_counts(rows: Sequence[Mapping[str, str]]) -> dict[str, int]:
    """Count rows per label, in :data:`INTENTS` order (0 for an absent intent)."""
    counts = dict.fromkeys(INTENTS, 0)
    for row in rows:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    return counts
