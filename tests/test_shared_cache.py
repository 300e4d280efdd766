"""The shared cache (billing_center.cache: Django's Redis cache with one client per pool) under
threads, as gunicorn's threads and the wake flag (topups.wake) use it: an add is won once."""

import threading
import uuid
from collections import Counter

from django.conf import settings
from django.core.cache import cache

from tests.conftest import require


def test_threads_racing_to_add_the_same_keys_win_each_once_on_real_redis():
    require(settings.CACHES["default"]["BACKEND"] == "billing_center.cache.RedisCache", "Redis (set REDIS_URL)")
    keys = [f"test:race:{uuid.uuid4().hex}" for _ in range(200)]
    wins, errors, lock, start = Counter(), [], threading.Lock(), threading.Barrier(16)

    def racer(name: int) -> None:
        start.wait()
        try:
            for key in keys:
                if cache.add(key, name, timeout=30):
                    with lock:
                        wins[key] += 1
        except Exception as exc:  # a client shared badly between threads shows up here
            errors.append(exc)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert wins == dict.fromkeys(keys, 1)
    assert all(isinstance(cache.get(key), int) for key in keys)
    cache.delete_many(keys)
    assert cache.get_many(keys) == {}
