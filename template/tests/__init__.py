"""The project's own suite. The helpers' asserts explain their failures like the tests' do."""

import pytest

pytest.register_assert_rewrite("tests.helpers")
