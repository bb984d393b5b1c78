# llmproxy in a FROM scratch image: the static binary (musl, BearSSL built
# from source), a CA bundle and the example config; about 0.9 MB (0.5 MB
# compressed).
#
#   docker build -t llmproxy .
#   docker run --rm -p 8080:8080 -e OPENAI_API_KEY -e ANTHROPIC_API_KEY \
#       -e LLMPROXY_API_KEYS=sk-choose-a-key llmproxy
#
# Without arguments it is configured from the environment (see llmproxy(1))
# and listens on 0.0.0.0:8080, which needs client keys (LLMPROXY_API_KEYS).
# With a config file, mount it and name it; give it "listen": ":8080" (or
# pass -l :8080) and api_keys:
#   docker run --rm -p 8080:8080 -e OPENAI_API_KEY \
#       -v "$PWD/llmproxy.json:/etc/llmproxy/llmproxy.json:ro" \
#       llmproxy -c /etc/llmproxy/llmproxy.json -l :8080
# State (keys, usage records) is kept in the volume /var/lib/llmproxy.
#
# The build stage runs scripts/image.sh, which CI runs too; tests/image_check.sh
# checks this file against the tree that script builds, and runs that tree
# as this image would.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils ca-certificates \
      debian-archive-keyring gcc libbearssl-dev libc6-dev make musl-tools xz-utils
WORKDIR /src
COPY . .
RUN LLMPROXY_ADD_DEB_SRC=1 sh scripts/image.sh /image

FROM scratch
COPY --from=build /image/rootfs/ /
COPY --from=build --chown=65534:65534 /image/state/ /var/lib/llmproxy/
USER 65534:65534
ENV LLMPROXY_LISTEN=0.0.0.0:8080 LLMPROXY_STATE_DIR=/var/lib/llmproxy
VOLUME /var/lib/llmproxy
EXPOSE 8080
ENTRYPOINT ["/usr/bin/llmproxy"]
