# The Drone plugin image: a drop-in for drone-helm steps, running the same release tasks.
# Build from the repository root:  docker build -f scripts/drone-plugin.Dockerfile -t helm-tasks-plugin .
# Debian, not Alpine: helm-python-sdk ships manylinux wheels (Helm's Go SDK), no musl ones.
FROM python:3.11-slim-bookworm
WORKDIR /opt/helm-tasks
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY tasks.py ./
COPY tasks/ ./tasks/
# The tasks' bytecode, compiled once in the image rather than in every step it runs
RUN python -m compileall -q tasks
COPY scripts/drone_plugin.py ./scripts/
ENTRYPOINT ["python", "/opt/helm-tasks/scripts/drone_plugin.py"]
