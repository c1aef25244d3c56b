"""The lab's SSH key and client configuration.

The docker CLI's ssh:// transport runs the local `ssh` binary with no way to pass
options, so the options go into the user's ~/.ssh/config, between markers that
`down` removes again.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

BEGIN_MARKER = "# BEGIN kolla-ha-lab (written by `python3 -m lab up`, removed by `down`)"
END_MARKER = "# END kolla-ha-lab"


@dataclass(frozen=True)
class SshAccess:
    state_dir: Path
    host_pattern: str  # e.g. "10.199.0.*"
    user_config: Path = Path.home() / ".ssh" / "config"

    @property
    def private_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.state_dir / "id_ed25519.pub"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    def host_block(self) -> str:
        # The trailing `Host *` ends our block's scope, so whatever follows in the
        # user's file keeps applying to every host as before.
        return "\n".join([
            BEGIN_MARKER,
            f"Host {self.host_pattern}",
            "    User root",
            f"    IdentityFile {self.private_key}",
            "    IdentitiesOnly yes",
            "    StrictHostKeyChecking no",
            "    UserKnownHostsFile /dev/null",
            "    LogLevel ERROR",
            "Host *",
            END_MARKER,
            "",
        ])

    def ensure_key(self) -> str:
        """Create the ed25519 key pair once; return the public key line."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.private_key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kolla-ha-lab",
                            "-f", str(self.private_key)], check=True)
        return self.public_key.read_text().strip()

    def install_config(self) -> None:
        self.ssh_config.write_text(self.host_block().replace(BEGIN_MARKER + "\n", "")
                                   .replace(END_MARKER + "\n", ""))
        current = self.user_config.read_text() if self.user_config.exists() else ""
        wanted = self.host_block() + strip_block(current)
        if wanted != current:
            self.user_config.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.user_config.write_text(wanted)
            self.user_config.chmod(0o600)

    def remove(self) -> None:
        if self.user_config.exists():
            current = self.user_config.read_text()
            stripped = strip_block(current)
            if stripped != current:
                self.user_config.write_text(stripped)
        for path in (self.private_key, self.public_key, self.ssh_config):
            path.unlink(missing_ok=True)


def strip_block(text: str) -> str:
    """`text` without the lab's marked block (the user's own lines untouched)."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    inside = False
    for line in lines:
        if line.rstrip("\n") == BEGIN_MARKER:
            inside = True
        elif inside and line.rstrip("\n") == END_MARKER:
            inside = False
        elif not inside:
            kept.append(line)
    return "".join(kept)
