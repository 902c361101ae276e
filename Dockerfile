# The Cosmos Run Dashboard as a team server (README: "Serving it for a team").
#   docker build -t cosmos-dashboard .
#   docker run -d -p 127.0.0.1:7860:7860 -v "$PWD/config:/config:ro" -v cosmos-data:/data cosmos-dashboard
# /config/cosmos.toml must set ui.auth (the page binds 0.0.0.0 in the container and refuses to without a
# login), or append `--insecure` to the command when the reverse proxy in front does the login.
FROM python:3.11-slim

# OpenSSH's sftp fetches big outputs faster than paramiko (the product uses it when present).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    COSMOS_CONFIG=/config/cosmos.toml \
    XDG_STATE_HOME=/data/state

# The checkout stays in /app: the launcher uploads /app/scripts with every run.
WORKDIR /app
COPY . /app
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 1000 cosmos \
    && mkdir -p /config /data \
    && chown cosmos:cosmos /config /data
# /config: cosmos.toml (and SSH keys and known_hosts, if kept there), mounted read-only.
# /data: the working directory, so the defaults put the SQLite database and the outputs in /data/outputs;
# also the installation id (XDG_STATE_HOME), which must survive a new container.
VOLUME ["/config", "/data"]
WORKDIR /data
USER cosmos

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["cosmos", "dashboard", "--host", "0.0.0.0", "--port", "7860"]
