"""What users see while faults happen: real clients through the VIP, every call timed.

Probes (each a thread, one call after another, every result kept as a `Sample`):

- `token`: a fresh keystone token each time (keystoneauth, as `openstack token issue`)
- `identity`: project + user create, then delete (openstacksdk)
- `image`: image create, upload, download (bytes compared), delete (openstacksdk)
- `placement`: resource provider create, then delete (openstacksdk)
- `db`: one INSERT per call through the database VIP, autocommit; a call counts as
  acknowledged only when the commit returned. Afterwards every acknowledged row must exist.
- `amqp`: publisher confirms on a quorum queue, a consumer on another connection; every
  confirmed message must be consumed. Both reconnect over the node list as oslo.messaging
  does with a transport_url naming every node.

Credentials come from a `WorkloadTarget` (secrets never reach argv or the environment).
"""
from __future__ import annotations

import abc
import hashlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import openstack
import pika
import pymysql
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

PROBE_DB = "kolla_ha_probe"
PROBE_QUEUE = "kolla-ha-probe"
IMAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class WorkloadTarget:
    auth_url: str
    admin_password: str
    region: str
    db_host: str
    db_port: int
    db_user: str
    db_password: str
    amqp_hosts: tuple[str, ...]
    amqp_user: str
    amqp_password: str
    amqp_port: int = 5672


@dataclass(frozen=True)
class Sample:
    probe: str
    op: str
    start: float
    end: float
    ok: bool
    error: str = ""


class Recorder:
    """Samples from every probe thread, in one list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: list[Sample] = []

    def timed(self, probe: str, op: str, call: Callable[[], Any]) -> Any:
        start = time.time()
        try:
            result = call()
        except Exception as err:  # every failure a user would see counts
            self._add(Sample(probe, op, start, time.time(), False, f"{type(err).__name__}: {str(err)[:200]}"))
            raise
        self._add(Sample(probe, op, start, time.time(), True))
        return result

    def _add(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)


class Probe(threading.Thread, abc.ABC):
    name_: str = "probe"
    interval = 0.2

    def __init__(self, target: WorkloadTarget, recorder: Recorder) -> None:
        super().__init__(daemon=True, name=self.name_)
        self.target = target
        self.recorder = recorder
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.once()
            except Exception:  # recorded by Recorder.timed; the loop goes on like a user would
                self.reset()
            self.halt.wait(self.interval)

    @abc.abstractmethod
    def once(self) -> None:
        """One user action, timed through `self.timed`; raises when it failed."""

    def reset(self) -> None:
        """Drop cached connections after a failure, as a client library would."""

    def timed(self, op: str, call: Callable[[], Any]) -> Any:
        return self.recorder.timed(self.name_, op, call)


def _password_auth(target: WorkloadTarget) -> v3.Password:
    return v3.Password(auth_url=target.auth_url, username="admin", password=target.admin_password,
                       project_name="admin", user_domain_name="Default", project_domain_name="Default")


def connect_cloud(target: WorkloadTarget) -> openstack.connection.Connection:
    session = ks_session.Session(auth=_password_auth(target), timeout=30)
    return openstack.connection.Connection(session=session, region_name=target.region)


class TokenProbe(Probe):
    name_ = "token"

    def once(self) -> None:
        # A new auth plugin each time: nothing cached, a token really issued.
        session = ks_session.Session(auth=_password_auth(self.target), timeout=30)
        self.timed("issue", session.get_token)


class _CloudProbe(Probe):
    def __init__(self, target: WorkloadTarget, recorder: Recorder) -> None:
        super().__init__(target, recorder)
        self._conn: openstack.connection.Connection | None = None

    @property
    def conn(self) -> openstack.connection.Connection:
        if self._conn is None:
            self._conn = connect_cloud(self.target)
        return self._conn

    def reset(self) -> None:
        self._conn = None


class IdentityProbe(_CloudProbe):
    name_ = "identity"

    def once(self) -> None:
        tag = uuid.uuid4().hex[:10]
        project = self.timed("project-create", lambda: self.conn.identity.create_project(
            name=f"probe-{tag}", domain_id="default"))
        try:
            user = self.timed("user-create", lambda: self.conn.identity.create_user(
                name=f"probe-{tag}", domain_id="default", default_project_id=project.id))
            self.timed("user-delete", lambda: self.conn.identity.delete_user(user))
        finally:
            self.timed("project-delete", lambda: self.conn.identity.delete_project(project))


class ImageProbe(_CloudProbe):
    name_ = "image"
    interval = 0.5

    def __init__(self, target: WorkloadTarget, recorder: Recorder) -> None:
        super().__init__(target, recorder)
        self.data = os.urandom(IMAGE_BYTES)
        self.digest = hashlib.sha256(self.data).hexdigest()

    def once(self) -> None:
        name = f"probe-{uuid.uuid4().hex[:10]}"
        image = self.timed("create", lambda: self.conn.image.create_image(
            name=name, disk_format="raw", container_format="bare", allow_duplicates=True))
        try:
            self.timed("upload", lambda: image.upload(self.conn.image, data=self.data))
            self.timed("download", lambda: self._download(image))
        finally:
            self.timed("delete", lambda: self.conn.image.delete_image(image))

    def _download(self, image: Any) -> None:
        response = self.conn.image.download_image(image)
        got = response.content if hasattr(response, "content") else response
        if hashlib.sha256(got).hexdigest() != self.digest:
            raise ValueError(f"downloaded {len(got)} bytes, not the {IMAGE_BYTES} uploaded")


class PlacementProbe(_CloudProbe):
    name_ = "placement"

    def once(self) -> None:
        provider = self.timed("provider-create", lambda: self.conn.placement.create_resource_provider(
            name=f"probe-{uuid.uuid4().hex[:10]}"))
        self.timed("provider-delete", lambda: self.conn.placement.delete_resource_provider(provider))


class DbProbe(Probe):
    """Acknowledged inserts through the VIP; what was acknowledged must survive."""

    name_ = "db"
    interval = 0.05

    def __init__(self, target: WorkloadTarget, recorder: Recorder) -> None:
        super().__init__(target, recorder)
        self.acked: list[str] = []
        self._conn: pymysql.connections.Connection | None = None

    def connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(host=self.target.db_host, port=self.target.db_port, user=self.target.db_user,
                               password=self.target.db_password, connect_timeout=5, read_timeout=10,
                               write_timeout=10, autocommit=True)

    def prepare(self) -> None:
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {PROBE_DB}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_DB}.acked "
                        "(id CHAR(32) PRIMARY KEY, at DOUBLE NOT NULL) ENGINE=InnoDB")
        conn.close()

    def once(self) -> None:
        row = uuid.uuid4().hex

        def insert() -> None:
            if self._conn is None:
                self._conn = self.connect()
            else:
                # What oslo.db does on every pool checkout: a connection the proxy cut
                # (a failover) is replaced before use, unseen by the caller.
                self._conn.ping(reconnect=True)
            with self._conn.cursor() as cur:
                cur.execute(f"INSERT INTO {PROBE_DB}.acked (id, at) VALUES (%s, %s)", (row, time.time()))

        self.timed("insert", insert)
        self.acked.append(row)

    def reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # a broken connection may fail to close; it is dropped anyway
                pass
        self._conn = None

    def lost(self, timeout: float = 120) -> list[str]:
        """Acknowledged rows that are not in the table (retrying while the DB recovers)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = self.connect()
                with conn.cursor() as cur:
                    cur.execute(f"SELECT id FROM {PROBE_DB}.acked")
                    present = {r[0] for r in cur.fetchall()}
                conn.close()
                return [r for r in self.acked if r not in present]
            except pymysql.MySQLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)


class AmqpProbe(Probe):
    """Publisher-confirmed messages on a quorum queue, consumed on another connection."""

    name_ = "amqp"
    interval = 0.05

    def __init__(self, target: WorkloadTarget, recorder: Recorder) -> None:
        super().__init__(target, recorder)
        self.confirmed: list[int] = []
        self.consumed: set[int] = set()
        self._sequence = 0
        self._publisher: pika.BlockingConnection | None = None
        self._channel: Any = None
        self._rotation = 0
        self._consumer = threading.Thread(target=self._consume, daemon=True, name="amqp-consumer")
        self._consumer_stop = threading.Event()

    def _connect(self, rotate: int) -> pika.BlockingConnection:
        hosts = list(self.target.amqp_hosts)
        hosts = hosts[rotate % len(hosts):] + hosts[:rotate % len(hosts)]
        credentials = pika.PlainCredentials(self.target.amqp_user, self.target.amqp_password)
        params = [pika.ConnectionParameters(host=h, port=self.target.amqp_port, credentials=credentials,
                                            heartbeat=10, blocked_connection_timeout=10,
                                            socket_timeout=5, connection_attempts=1) for h in hosts]
        return pika.BlockingConnection(params)

    def prepare(self) -> None:
        conn = self._connect(0)
        channel = conn.channel()
        channel.queue_declare(PROBE_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_purge(PROBE_QUEUE)
        conn.close()
        self._consumer.start()

    def once(self) -> None:
        self._sequence += 1
        number = self._sequence

        def publish() -> None:
            if self._publisher is None or self._publisher.is_closed:
                self._publisher = self._connect(self._rotation)
                self._channel = self._publisher.channel()
                self._channel.confirm_delivery()
            # Raises unless the broker confirmed: only then does the message count.
            self._channel.basic_publish("", PROBE_QUEUE, str(number).encode(),
                                        pika.BasicProperties(delivery_mode=2), mandatory=True)

        self.timed("publish", publish)
        self.confirmed.append(number)

    def reset(self) -> None:
        self._rotation += 1
        try:
            if self._publisher is not None and self._publisher.is_open:
                self._publisher.close()
        except Exception:  # closing a dead connection may fail; it is replaced anyway
            pass
        self._publisher = None

    def _consume(self) -> None:
        rotation = 1  # start on another node than the publisher
        while not self._consumer_stop.is_set():
            try:
                conn = self._connect(rotation)
                channel = conn.channel()
                channel.basic_qos(prefetch_count=100)
                for method, _, body in channel.consume(PROBE_QUEUE, inactivity_timeout=0.5):
                    if self._consumer_stop.is_set():
                        break
                    if method is None:
                        continue
                    self.consumed.add(int(body))
                    channel.basic_ack(method.delivery_tag)
                conn.close()
            except Exception:  # the consumer reconnects to the next node like oslo.messaging
                rotation += 1
                time.sleep(0.5)

    def lost(self, timeout: float = 120) -> list[int]:
        """Confirmed messages not consumed, once the consumer had `timeout` to catch up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = [n for n in self.confirmed if n not in self.consumed]
            if not missing:
                break
            time.sleep(1)
        self._consumer_stop.set()
        return [n for n in self.confirmed if n not in self.consumed]


PROBES: dict[str, type[Probe]] = {p.name_: p for p in (TokenProbe, IdentityProbe, ImageProbe, PlacementProbe,
                                                       DbProbe, AmqpProbe)}


@dataclass
class Workload:
    target: WorkloadTarget
    probes: tuple[str, ...] = tuple(PROBES)
    recorder: Recorder = field(default_factory=Recorder)
    running: list[Probe] = field(default_factory=list)

    def start(self) -> None:
        for name in self.probes:
            probe = PROBES[name](self.target, self.recorder)
            if isinstance(probe, (DbProbe, AmqpProbe)):
                probe.prepare()
            self.running.append(probe)
        for probe in self.running:
            probe.start()

    def stop(self) -> None:
        for probe in self.running:
            probe.halt.set()
        for probe in self.running:
            probe.join(timeout=60)

    def probe(self, name: str) -> Probe:
        return next(p for p in self.running if p.name_ == name)
