"""One storage test class, run over every backend this run has (memory; Redis in CI)."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from bot.storage import LockTimeout, StateStore, create_store
from bot.storage.base import Claim
from tests.support.backends import REDIS_URL, store_backends


@pytest.fixture(params=store_backends())
async def store(request) -> StateStore:
    url = REDIS_URL if request.param == "redis" else None
    s = create_store(url, namespace=f"ts{secrets.token_hex(6)}")
    yield s
    await s.close()


class TestStateStore:
    async def test_set_get_delete(self, store: StateStore):
        assert await store.get("a") is None
        assert await store.set("a", "1")
        assert await store.get("a") == b"1"
        await store.delete("a")
        assert await store.get("a") is None

    async def test_set_nx_only_when_absent(self, store: StateStore):
        assert await store.set("k", "first", nx=True)
        assert not await store.set("k", "second", nx=True)
        assert await store.get("k") == b"first"

    async def test_ttl_expires(self, store: StateStore):
        await store.set("t", "v", ttl=0.15)
        left = await store.ttl("t")
        assert left is not None and 0 < left <= 0.15
        await asyncio.sleep(0.3)
        assert await store.get("t") is None
        assert await store.set("t", "again", nx=True)

    async def test_compare_and_delete(self, store: StateStore):
        await store.set("c", "mine")
        assert not await store.compare_and_delete("c", "theirs")
        assert await store.get("c") == b"mine"
        assert await store.compare_and_delete("c", "mine")
        assert await store.get("c") is None

    async def test_compare_and_set(self, store: StateStore):
        await store.set("s", "P")
        assert not await store.compare_and_set("s", "X", "new")
        assert await store.compare_and_set("s", "P", "done", ttl=5)
        assert await store.get("s") == b"done"
        assert 0 < (await store.ttl("s")) <= 5

    async def test_incr_sets_ttl_once(self, store: StateStore):
        assert await store.incr("n", ttl=0.3) == 1
        assert await store.incr("n", ttl=100) == 2
        assert (await store.ttl("n")) <= 0.3
        await asyncio.sleep(0.4)
        assert await store.incr("n", ttl=1) == 1

    async def test_json_round_trip(self, store: StateStore):
        await store.set_json("j", {"名字": "张三", "n": [1, 2]})
        assert await store.get_json("j") == {"名字": "张三", "n": [1, 2]}

    async def test_namespaces_do_not_collide(self, store: StateStore):
        other = create_store(REDIS_URL if store.__class__.__name__ == "RedisStore" else None,
                             namespace=f"other{secrets.token_hex(4)}")
        await store.set("same", "a")
        assert await other.get("same") is None
        await other.close()

    async def test_lock_excludes_concurrent_holders(self, store: StateStore):
        inside = 0
        peak = 0

        async def worker():
            nonlocal inside, peak
            async with store.lock("L", ttl=5, timeout=5):
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(worker() for _ in range(20)))
        assert peak == 1

    async def test_lock_times_out(self, store: StateStore):
        async with store.lock("held", ttl=5):
            with pytest.raises(LockTimeout):
                await store.lock("held", timeout=0.1).acquire()

    async def test_lock_of_crashed_holder_expires(self, store: StateStore):
        crashed = store.lock("lease", ttl=0.2)
        await crashed.acquire()  # never released
        other = store.lock("lease", ttl=1, timeout=2)
        assert await other.acquire()
        # The first holder's late release must not free the second holder's lock.
        await crashed.release()
        assert not await store.lock("lease", timeout=0.05).acquire(blocking=False)
        await other.release()

    async def test_ping(self, store: StateStore):
        assert await store.ping()

    async def test_claim_is_taken_with_the_lock_and_settled_with_the_unlock(
            self, store: StateStore):
        await store.set("state", "s0")
        claim = Claim("claim", ttl=5)
        lock = store.lock("u", ttl=5, timeout=1)
        assert await lock.acquire(read="state", claim=claim)
        assert claim.written and claim.holder is None and lock.value == b"s0"
        assert await store.get("claim") == claim.pending
        # A second request for the same message sees the claim and never takes the lock.
        other = Claim("claim", ttl=5)
        assert not await store.lock("u2", ttl=5, timeout=1).acquire(claim=other)
        assert other.holder == claim.pending and not other.written
        assert await store.get("lock:u2") is None
        await lock.release(write="state", value="s1", ttl=5, claim=claim, answer="done")
        assert claim.settled
        assert await store.get("claim") == b"done"
        assert await store.get("state") == b"s1"
        assert await store.get("lock:u") is None
        assert 0 < (await store.ttl("claim")) <= 5

    async def test_claim_waits_for_a_busy_lock_keeping_its_claim(self, store: StateStore):
        holder = store.lock("busy", ttl=5)
        await holder.acquire()
        claim = Claim("c2", ttl=5)
        lock = store.lock("busy", ttl=5, timeout=2)
        waiting = asyncio.create_task(lock.acquire(claim=claim))
        await asyncio.sleep(0.05)
        assert not waiting.done() and claim.written  # claimed at once, lock still busy
        # A deferral (the request gave up) keeps the claim ours: the work still runs.
        assert await store.compare_and_set("c2", claim.pending, claim.deferred)
        await holder.release()
        assert await waiting
        assert claim.holder is None
        await lock.release(claim=claim, answer="late")
        assert not claim.settled  # the deferral stays: the answer goes another way
        assert await store.get("c2") == claim.deferred

    async def test_lock_times_out_with_a_claim(self, store: StateStore):
        async with store.lock("held2", ttl=5):
            claim = Claim("c3", ttl=5)
            with pytest.raises(LockTimeout):
                await store.lock("held2", timeout=0.1).acquire(claim=claim)
        assert claim.written and await store.get("c3") == claim.pending

    async def test_regression_a_lock_step_whose_answer_was_lost_kept_the_lock(
            self, store: StateStore, monkeypatch):
        """A dropped connection lost the answer of a lock step that had run: the lock and
        the claim's pending marker stayed until their TTLs, so the user's next message
        waited out the lock (20 s) and a WeChat retry found a claim nobody would answer."""
        ran = store.try_lock_and_get

        async def ran_then_lost(*args, **kwargs):
            await ran(*args, **kwargs)
            raise ConnectionError("connection dropped")

        monkeypatch.setattr(store, "try_lock_and_get", ran_then_lost)
        claim = Claim("lost-claim", ttl=60)
        with pytest.raises(ConnectionError):
            await store.lock("lost", ttl=60).acquire(read="lost-state", claim=claim)
        monkeypatch.undo()
        assert await store.get("lock:lost") is None
        assert await store.get("lost-claim") is None  # nothing ran: a retry may run it
        assert await store.lock("lost", ttl=60).acquire(blocking=False)

    async def test_regression_an_unlock_step_that_was_lost_kept_the_lock(
            self, store: StateStore, monkeypatch):
        lock = store.lock("lost2", ttl=60)
        await lock.acquire()

        async def lost(*args, **kwargs):
            raise ConnectionError("connection dropped")

        monkeypatch.setattr(store, "put_and_unlock", lost)
        with pytest.raises(ConnectionError):
            await lock.release(write="lost2-state", value="{}")
        monkeypatch.undo()
        assert await store.lock("lost2", ttl=60).acquire(blocking=False)

    async def test_giving_back_never_takes_what_another_holder_has(self, store: StateStore,
                                                                   monkeypatch):
        """The lock step failed before it ran while somebody else held the lock and the
        claim: the give-back is a compare-and-delete on our token, so theirs stay."""
        holder = store.lock("busy", ttl=60)
        await holder.acquire()
        await store.set("busy-claim", b"Pothers", ttl=60)

        async def lost(*args, **kwargs):
            raise ConnectionError("connection dropped")

        monkeypatch.setattr(store, "try_lock_and_get", lost)
        with pytest.raises(ConnectionError):
            await store.lock("busy", ttl=60).acquire(claim=Claim("busy-claim", ttl=60))
        monkeypatch.undo()
        assert await store.get("lock:busy") == holder.token.encode()
        assert await store.get("busy-claim") == b"Pothers"


if REDIS_URL:  # Redis only: its scripts can vanish (restart, SCRIPT FLUSH)

    async def test_batched_scripts_reload_after_a_script_flush():
        store = create_store(REDIS_URL, namespace=f"ts{secrets.token_hex(6)}")
        try:
            await store.client.script_flush()
            claims = [Claim(f"c{i}", ttl=5) for i in range(5)]
            locks = [store.lock(f"u{i}", ttl=5, timeout=1) for i in range(5)]
            got = await asyncio.gather(*(lock.acquire(read="s", claim=claim)
                                         for lock, claim in zip(locks, claims, strict=True)))
            assert got == [True] * 5
            await asyncio.gather(*(lock.release(claim=claim, answer="a")
                                   for lock, claim in zip(locks, claims, strict=True)))
            assert all(c.settled for c in claims)
        finally:
            await store.close()


def test_pack_evalsha_writes_what_redis_py_writes():
    """The per-message scripts (and the pipelined connection's set-up commands) are
    packed by hand in bot.storage.redis; the bytes must be exactly redis-py's for every
    argument type the store sends."""
    from redis.asyncio.connection import Connection

    from bot.storage.redis import pack_command, pack_evalsha

    sha = "0123456789abcdef0123456789abcdef01234567"
    keys = ["zc:dedup:wx:m1", "zc:lock:用户"]
    args = ["P:1", b"\x00{\"xml\": \"<a/>\"}", 300000, 0, "", "答复", 1.5, -7]
    expected = b"".join(Connection().pack_command("EVALSHA", sha, len(keys), *keys, *args))
    assert pack_evalsha(sha, keys, args) == expected
    for bad in (None, True, [1]):  # what the store never sends: refused, not guessed
        with pytest.raises(TypeError):
            pack_evalsha(sha, keys, [bad])
    for command in (("AUTH", "user", "secret"), ("SELECT", 5), ("PING",)):
        assert pack_command(*command) == b"".join(Connection().pack_command(*command))


if REDIS_URL:

    async def _kill_pipeliner_connection(store) -> None:
        conn = store._pipeliner._conn
        assert conn is not None and not conn.dead
        host, port = conn.transport.get_extra_info("sockname")[:2]
        assert await store.client.client_kill(f"{host}:{port}")

    async def _lock_round(store, name: str) -> bool:
        claim = Claim(f"claim-{name}", ttl=5)
        lock = store.lock(name, ttl=5, timeout=1)
        got = await lock.acquire(read="s", claim=claim)
        await lock.release(claim=claim, answer="a")
        return got and claim.settled

    async def test_the_pipelined_connection_logs_in_and_selects_the_database():
        """A password and a database number in REDIS_URL apply to the scripts' own
        connection too (AUTH, then SELECT): checked with a throwaway ACL user."""
        import redis.asyncio as redis_py

        admin = redis_py.Redis.from_url(REDIS_URL)
        user, password = f"zc_t_{secrets.token_hex(4)}", secrets.token_hex(12)
        await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*",
                                    "+@all")
        base = REDIS_URL.split("//", 1)[1].split("/", 1)[0]
        namespace = f"ts{secrets.token_hex(6)}"
        store = create_store(f"redis://{user}:{password}@{base}/5", namespace=namespace)
        wrong = create_store(f"redis://{user}:not-{password}@{base}/5", namespace=namespace)
        try:
            assert await _lock_round(store, "acl1")
            in_db5 = redis_py.Redis.from_url(f"redis://{base}/5")
            try:
                assert await in_db5.get(f"{namespace}:claim-acl1") == b"a"
            finally:
                await in_db5.aclose()
            with pytest.raises(Exception, match="(?i)WRONGPASS|invalid"):
                await wrong.lock("acl2", ttl=5, timeout=1).acquire(
                    read="s", claim=Claim("claim-acl2", ttl=5))
        finally:
            await store.close()
            await wrong.close()
            await admin.execute_command("ACL", "DELUSER", user)
            await admin.aclose()

    async def test_the_pipelined_connection_works_over_a_unix_socket(tmp_path):
        """REDIS_URL may be unix:///path: the scripts' own connection then opens the
        socket (loop.create_unix_connection) and selects the database. Checked on a Redis
        of the test's own that listens on a socket only, so nothing can go over TCP."""
        import shutil
        import subprocess

        import redis.asyncio as redis_py

        sock = tmp_path / "redis.sock"
        server = await asyncio.create_subprocess_exec(
            shutil.which("redis-server") or "redis-server", "--port", "0",
            "--unixsocket", str(sock), "--unixsocketperm", "700", "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"unix://{sock}?db=3"
        store = create_store(url, namespace=f"ts{secrets.token_hex(6)}")
        try:
            for _ in range(100):
                if sock.exists():
                    break
                await asyncio.sleep(0.05)
            assert store._pipeliner is not None, "a unix socket must take the pipelined path"
            assert await asyncio.gather(*(_lock_round(store, f"u{i}") for i in range(5))) \
                == [True] * 5
            assert store._pipeliner._conn.transport.get_extra_info("peername") == str(sock)
            plain = redis_py.Redis.from_url(url)
            try:
                assert await plain.get(f"{store.namespace}:claim-u0") == b"a"
                assert await plain.execute_command("DBSIZE") > 0
            finally:
                await plain.aclose()
        finally:
            await store.close()
            server.terminate()
            await asyncio.wait_for(server.wait(), 10)

    async def test_batches_arriving_while_connecting_share_one_connection(monkeypatch):
        """Under load at start-up, every loop turn flushes a batch before the first
        connection is up: they must wait for that one, not each open their own."""
        store = create_store(REDIS_URL, namespace=f"ts{secrets.token_hex(6)}")
        pipeliner = store._pipeliner
        connects = 0
        real_connect = pipeliner._connect

        async def counting_connect():
            nonlocal connects
            connects += 1
            return await real_connect()

        monkeypatch.setattr(pipeliner, "_connect", counting_connect)

        async def later(turns: int) -> bool:
            for _ in range(turns):
                await asyncio.sleep(0)
            return await _lock_round(store, f"start{turns}")

        try:
            assert await asyncio.gather(*(later(turns) for turns in range(20))) == [True] * 20
            assert connects == 1
        finally:
            await store.close()

    async def test_scripts_find_out_an_idle_connection_redis_closed():
        """A connection Redis closed while idle (restart, timeout) is PINGed, found dead
        and replaced before a batch goes out on it: the batch succeeds."""
        store = create_store(REDIS_URL, namespace=f"ts{secrets.token_hex(6)}")
        try:
            assert await _lock_round(store, "idle1")
            await _kill_pipeliner_connection(store)
            store._pipeliner.idle_check = 0.0  # as if it had been idle a while
            assert await _lock_round(store, "idle2")
        finally:
            await store.close()

    async def test_the_pipelined_connection_keeps_itself_alive():
        """Idle between messages, the scripts' connection has TCP keepalive on, so a NAT
        or firewall does not drop it silently (checked on the socket itself)."""
        import socket

        from bot.storage.redis import KEEPALIVE_IDLE

        store = create_store(REDIS_URL, namespace=f"ts{secrets.token_hex(6)}")
        try:
            assert await _lock_round(store, "alive")
            sock = store._pipeliner._conn.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE
        finally:
            await store.close()

    class _ReplyCutter:
        """A TCP proxy in front of Redis that can lose the next reply: it forwards the
        request (so the script runs), then drops Redis's answer and either closes the
        client's connection (`close=True`) or stays silent. `sent` keeps every request."""

        def __init__(self) -> None:
            self.cut, self.close = False, True
            self.server: asyncio.Server | None = None
            self.writers: list[asyncio.StreamWriter] = []
            self.sent = bytearray()

        async def start(self) -> str:
            host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
            self.target = (host, int(port))
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            port = self.server.sockets[0].getsockname()[1]
            return f"redis://127.0.0.1:{port}/0"

        async def _serve(self, reader, writer) -> None:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self.writers += [writer, up_writer]

            async def pump(src, dst, replies: bool) -> None:
                while data := await src.read(65536):
                    if not replies:
                        self.sent += data
                    if replies and self.cut:
                        self.cut = False
                        if self.close:
                            writer.transport.abort()
                        return
                    dst.write(data)
                dst.close()

            await asyncio.gather(pump(reader, up_writer, False),
                                 pump(up_reader, writer, True), return_exceptions=True)

        async def stop(self) -> None:
            for w in self.writers:
                w.transport.abort()
            self.server.close()

    @pytest.mark.parametrize("close", [True, False], ids=["dropped", "silent"])
    async def test_a_batch_whose_reply_is_lost_fails_and_the_next_reconnects(close: bool):
        """Not re-sent (the script ran before its reply was lost): the callers get the
        error (at once when the connection drops, after the socket timeout when Redis
        falls silent), and the next batch goes out on a new connection. The lock step's
        caller then gives back what the lost step took (the lock and its pending claim),
        on that new connection, so the user's next message need not wait out the TTL."""
        from redis.exceptions import ConnectionError as RedisConnectionError

        proxy = _ReplyCutter()
        namespace = f"ts{secrets.token_hex(6)}"
        store = create_store(await proxy.start(), namespace=namespace)
        direct = create_store(REDIS_URL, namespace=namespace)
        try:
            store._pipeliner._timeout = 0.3
            assert await _lock_round(store, "lost1")
            proxy.cut, proxy.close = True, close
            claim = Claim("claim-lost2", ttl=5)
            before = len(proxy.sent)
            with pytest.raises(RedisConnectionError):
                await asyncio.wait_for(store.lock("lost2", ttl=5, timeout=1).acquire(
                    read="s", claim=claim), 2)
            # The script went to Redis once and was not sent again...
            assert proxy.sent[before:].count(store._claim_lock_get.sha.encode()) == 1
            # ...and what it took was given back.
            assert await direct.get("claim-lost2") is None
            assert await direct.get("lock:lost2") is None
            assert await _lock_round(store, "lost3")
        finally:
            await store.close()
            await direct.close()
            await proxy.stop()


@pytest.mark.parametrize("backend", store_backends())
async def test_a_release_in_this_process_wakes_a_waiter_at_once(backend):
    """Waiters poll for holders in other processes; a holder in this one wakes them when
    it releases. With a 5-second poll only the wake-up can get the lock within 2 s."""
    store = create_store(REDIS_URL if backend == "redis" else None,
                         namespace=f"ts{secrets.token_hex(6)}")
    try:
        holder = store.lock("w", ttl=10)
        await holder.acquire()
        waiter = store.lock("w", ttl=10, timeout=20)
        waiter.first_poll = waiter.max_poll = 5.0
        waiting = asyncio.create_task(waiter.acquire())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await holder.release()
        assert await asyncio.wait_for(waiting, 2)
        await waiter.release()
        assert store._releases == {}  # nothing left behind
    finally:
        await store.close()
