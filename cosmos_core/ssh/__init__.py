"""SSH: the paramiko connection to a GPU host, file transfers, host keys as OpenSSH writes them, and
adding a host."""
