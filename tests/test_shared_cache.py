"""The shared caches (billing_center.cache: Django's Redis cache with one client per pool, the
file cache with a locked add) under threads and processes, as gunicorn's threads and the wake
flag (topups.wake) use them: an add is won once."""

import multiprocessing
import threading
import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.core.cache import cache

from billing_center.cache import FileBasedCache
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


def add_all(folder: str, keys: list[str], start, racers: int = 4) -> list[str]:
    """`racers` threads of this process add every key to the file cache in `folder`; the keys they won."""
    won, lock, barrier = [], threading.Lock(), threading.Barrier(racers)

    def racer() -> None:
        files = FileBasedCache(folder, {})  # a cache object per thread, as each process has its own
        barrier.wait()
        for key in keys:
            if files.add(key, 1, timeout=30):
                with lock:
                    won.append(key)

    if start is not None:
        start.wait()
    threads = [threading.Thread(target=racer) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


@pytest.mark.parametrize("processes", [1, 4])
def test_threads_and_processes_racing_to_add_the_same_keys_win_each_once_in_the_file_cache(tmp_path, processes):
    """Django's own FileBasedCache lets 41 of these 200 keys be won more than once (16 threads)."""
    keys = [f"race-{n}" for n in range(200)]
    if processes == 1:
        won = add_all(str(tmp_path), keys, None, racers=16)
    else:
        spawn = multiprocessing.get_context("spawn")
        with spawn.Manager() as manager:
            start = manager.Barrier(processes)
            with spawn.Pool(processes) as pool:
                results = pool.starmap(add_all, [(str(tmp_path), keys, start)] * processes)
        won = [key for result in results for key in result]

    assert Counter(won) == dict.fromkeys(keys, 1)
    files = FileBasedCache(str(tmp_path), {})
    assert files.get_many(keys) == dict.fromkeys(keys, 1)
    files.clear()  # the lock file is not a cache entry: clear and cull leave it alone
    assert files.get_many(keys) == {}
