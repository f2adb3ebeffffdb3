"""Mailboxes on this machine: a Maildir directory or an mbox file.

For a mail store that another program delivers into (Postfix ``local``,
Dovecot's LDA, ``getmail``) without a server in front of it.
"""

from __future__ import annotations

import contextlib
import mailbox
import os
import re
from collections.abc import Iterable, Iterator

from mailserver.ingress.mailboxes.base import Item, MailboxUnavailable, Source
from mailserver.ingress.mailboxes.config import DELETE, KEEP, MOVE

STATUS_HEADER = re.compile(rb"(?i)(X-)?Status:")


class MaildirSource(Source):
    """A Maildir; ``MOVE_TO`` names a Maildir++ subfolder (``.Archive``).

    Works on the files directly, with renames, so a delivery agent writing at
    the same time is never disturbed: Maildir was designed for that.
    """

    def open(self) -> None:
        path = self.config.path
        if not all(os.path.isdir(os.path.join(path, sub)) for sub in ("new", "cur", "tmp")):
            raise MailboxUnavailable(f"{self}: {path} is not a Maildir (no new/, cur/, tmp/).")

    def list(self) -> list[Item]:
        items = []
        for sub in ("new", "cur"):
            directory = os.path.join(self.config.path, sub)
            for name in sorted(os.listdir(directory)):
                if name.startswith("."):
                    continue
                unique, _, info = name.partition(":")
                seen = info.startswith("2,") and "S" in info[2:]
                if self.config.unseen_only and seen:
                    continue
                items.append(Item(uid=unique, handle=(sub, name), seen=seen))
        return items

    def read(self, items: Iterable[Item]) -> Iterator[tuple[Item, bytes]]:
        for item in items:
            try:
                with open(os.path.join(self.config.path, *item.handle), "rb") as file:
                    raw = file.read()
            except FileNotFoundError:
                continue  # taken by another reader meanwhile
            yield item, raw

    def finish(self, items: list[Item]) -> None:
        path, action = self.config.path, self.config.action
        target = os.path.join(path, "." + self.config.move_to)  # Maildir++ naming
        if action == MOVE and not os.path.isdir(target):
            mailbox.Maildir(path, create=False).add_folder(self.config.move_to)
        for item in items:
            sub, name = item.handle
            source = os.path.join(path, sub, name)
            if action == DELETE:
                _unlink(source)
            elif action == MOVE:
                _rename(source, os.path.join(target, sub, name))
            elif action == KEEP and not item.seen:
                unique, _, info = name.partition(":")
                flags = "".join(sorted(set(info[2:] if info.startswith("2,") else "") | {"S"}))
                _rename(source, os.path.join(path, "cur", f"{unique}:2,{flags}"))

    def close(self) -> None:
        pass


class MboxSource(Source):
    """An mbox file, locked (dot-lock and ``flock``) while it is read and rewritten.

    ``MOVE_TO`` names another mbox file, relative to this one's directory.
    Messages have no id of their own, so they are known by their content.
    """

    box: mailbox.mbox | None = None

    def open(self) -> None:
        if not os.path.isfile(self.config.path):
            raise MailboxUnavailable(f"{self}: {self.config.path} is not an mbox file.")
        try:
            self.box = mailbox.mbox(self.config.path, create=False)
            self.box.lock()
        except (OSError, mailbox.ExternalClashError) as exc:
            self.box = None
            raise MailboxUnavailable(f"{self}: cannot lock {self.config.path}: {exc}") from exc

    def list(self) -> list[Item]:
        items = []
        for key in self.box.iterkeys():
            seen = "R" in self.box.get_message(key).get_flags()
            if not (self.config.unseen_only and seen):
                items.append(Item(uid=None, handle=key, seen=seen))
        return items

    def read(self, items: Iterable[Item]) -> Iterator[tuple[Item, bytes]]:
        for item in items:
            yield item, self.box.get_bytes(item.handle)

    def content_key(self, raw: bytes) -> str:
        # Flagging a message rewrites it: its Status and X-Status headers, its line ends.
        head, separator, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        lines = [line for line in head.split(b"\n") if not STATUS_HEADER.match(line)]
        return super().content_key(b"\n".join(lines) + separator + body)

    def finish(self, items: list[Item]) -> None:
        box, action = self.box, self.config.action
        if action == MOVE:
            target_path = os.path.join(os.path.dirname(self.config.path), self.config.move_to)
            target = mailbox.mbox(target_path)
            target.lock()
            try:
                for item in items:
                    target.add(box.get_message(item.handle))
                target.flush()
            finally:
                target.unlock()
                target.close()
        for item in items:
            if action in (DELETE, MOVE):
                box.remove(item.handle)
            elif action == KEEP and not item.seen:
                message = box.get_message(item.handle)
                message.add_flag("R")
                box[item.handle] = message
        box.flush()  # rewrites the file; messages removed here are all stored

    def close(self) -> None:
        box, self.box = self.box, None
        if box is not None:
            box.unlock()
            box.close()


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _rename(source: str, target: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.rename(source, target)
