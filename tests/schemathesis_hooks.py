"""Schemathesis hooks for tests/test_schemathesis.py, loaded through ``SCHEMATHESIS_HOOKS``.

JSON Schema's ``email`` format admits every domain, but the API refuses addresses at domains
reserved for special use (RFC 6761: ``.test``, ``.invalid``, ``.localhost``...), which no mail
reaches. Generated addresses use the domains reserved for documentation instead, which the API
accepts, so a refusal of a generated address is a real finding, not noise.
"""

from __future__ import annotations

import string

import schemathesis
from hypothesis import strategies as st

# RFC 2606's documentation domains: deliverable in form, never anyone's mailbox.
DOMAINS = ("example.com", "example.net", "example.org")
LOCAL_PART = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"

schemathesis.openapi.format(
    "email",
    st.builds(
        "{}@{}".format,
        st.text(alphabet=LOCAL_PART, min_size=1, max_size=20),
        st.sampled_from(DOMAINS),
    ),
)
