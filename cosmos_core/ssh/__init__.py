"""SSH: the paramiko connection to a GPU host, file transfers (SFTP and OpenSSH's own client), host
keys as OpenSSH writes them, and adding a host."""
