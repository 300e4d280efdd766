"""Kombu's file broker, made safe for several processes: no reader ever sees a file half-written.

Stock kombu (kombu/transport/filesystem.py, 5.7) creates a message file under its final name and
then writes into it: `Channel._put` does open(name, "wb"), flock(), write(). The consumer,
`Channel._get`, lists the folder, moves the file away and reads it, and never takes that lock
(flock is advisory). A worker polling between the producer's open() and its write() reads zero
bytes (or a prefix), `loads` raises JSONDecodeError out of the consume loop, and Celery exits the
worker on it (kombu issue #1551). The exchange tables under the control folder are written the
same way: `_queue_bind` creates the file with open("wb") before it locks it, so every publish
(`get_table`) and every other process binding on a cold start can read it empty, and two first
binders can overwrite each other.

Here every file is written under a dot name that no reader lists and then os.replace()d into
place, which is atomic on POSIX: a reader sees the whole file or nothing. A consumer claims a
message by renaming it into a folder of its own on the same file system, so exactly one consumer
gets it, and a table is read-modified-written under a lock file. The folders are created when a
channel opens. Settings select it with CELERY_BROKER_TRANSPORT = "billing_center.file_broker:Transport".
"""

import logging
import os
import shutil
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)
CLAIMED = ".claimed"  # inside data_folder_in: a message being read by one consumer
REJECTED = ".rejected"  # inside data_folder_in: a file that is not a message, kept for a person to look at


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a hidden name beside `path`, then rename it to `path` in one step."""
    temporary = path.with_name(f".{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


class Channel(filesystem.Channel):
    def __init__(self, connection, **kwargs):
        super().__init__(connection, **kwargs)
        folders = [self.data_folder_out, self.claimed_folder, self.control_folder]
        if self.store_processed:
            folders.append(self.processed_folder)
        for folder in folders:
            Path(folder).mkdir(parents=True, exist_ok=True)

    @property
    def claimed_folder(self) -> Path:
        return Path(self.data_folder_in) / CLAIMED

    # --- messages ----------------------------------------------------------------------
    def _put(self, queue, payload, **kwargs):
        # The stock name, so ordering and the queue filter stay as kombu has them.
        path = Path(self.data_folder_out) / f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        try:
            write_atomically(path, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {str(path)!r} to directory") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue  # another queue's message, or a dot name: a file still being written
            claimed = self.claimed_folder / name
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                payload = claimed.read_bytes()
                self._done_with(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {str(claimed)!r} from queue.") from exc
            try:
                return loads(bytes_to_str(payload))
            except ValueError:
                # Not written by this transport (it never publishes a partial file): keep it and say so.
                self._reject(name, payload)
        raise Empty()

    def _done_with(self, claimed: Path) -> None:
        if self.store_processed:
            shutil.move(claimed, Path(self.processed_folder) / claimed.name)
        else:
            claimed.unlink()

    def _reject(self, name: str, payload: bytes) -> None:
        folder = Path(self.data_folder_in) / REJECTED
        folder.mkdir(exist_ok=True)
        write_atomically(folder / name, payload)
        logger.error("File broker rejected an unreadable message file, kept as %s", folder / name)

    # --- exchange tables (fanout and topic routing) --------------------------------------
    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            table = loads(bytes_to_str(file.read_bytes()))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*binding) for binding in table]

    @contextmanager
    def _table_lock(self, file: Path):
        with open(file.with_name(f"{file.name}.lock"), "ab") as lock_file:
            filesystem.lock(lock_file, filesystem.LOCK_EX)
            try:
                yield
            finally:
                filesystem.unlock(lock_file)

    def _change_table(self, exchange, change) -> None:
        file = self._exchange_file(exchange)
        try:
            with self._table_lock(file):
                table = self.get_table(exchange)
                changed = change(list(table))
                if changed != table:
                    write_atomically(file, str_to_bytes(dumps(changed)))
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: table if binding in table else [binding, *table])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)  # purges the queue
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._change_table(exchange, lambda table: [entry for entry in table if entry != binding])


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the Channel above; the same folders and options."""

    Channel = Channel
    global_state = virtual.BrokerState()  # this transport's own, not shared with stock kombu's

    @property
    def default_connection_params(self):
        """Folders, not a host: with kombu's default host ("localhost") every connection logged the
        warning "No hostname was supplied. Reverting to default 'localhost'" for a URL with none."""
        return {"port": self.default_port, "hostname": None}
