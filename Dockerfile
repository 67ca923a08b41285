# syntax=docker/dockerfile:1
# Build wheels in one stage, run them as an unprivileged user in a slim second stage.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY decoders decoders
COPY ingest ingest
COPY api api
COPY migrations migrations
COPY simulator simulator
COPY meetnet meetnet
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home meetnet
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER meetnet
WORKDIR /home/meetnet
EXPOSE 8000
ENTRYPOINT ["meetnet"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
