"""The app as a server imports it, from `app.main`."""

import gc

from app import main


def test_start_up_objects_are_left_out_of_garbage_collections() -> None:
    # `gc.get_objects()` lists what the collections walk; frozen objects are not among them.
    walked = {id(obj) for obj in gc.get_objects()}
    assert gc.get_freeze_count() > 0
    assert id(main.app) not in walked
    assert id(main.app.router) not in walked
