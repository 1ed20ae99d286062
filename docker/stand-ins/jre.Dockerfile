# Java runtime layer shared by the ZooKeeper and DolphinScheduler stand-in images: Debian's
# OpenJDK 17 on the locally made base image (no registry needed).
ARG BASE=dsmaster-base:bookworm
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless tzdata ca-certificates procps \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
ENV LANG=C.UTF-8 TZ=Asia/Shanghai
