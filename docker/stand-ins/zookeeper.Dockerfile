# Stand-in for the bitnami/zookeeper image of upstream's compose file: Debian's ZooKeeper
# package on the local JRE image, one standalone server on 2181.
ARG JRE=dsmaster-jre:bookworm
FROM ${JRE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends zookeeper \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY zk-startup.sh /root/zk-startup.sh
RUN chmod 0755 /root/zk-startup.sh
EXPOSE 2181
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/2181 && printf ruok >&3 && grep -q imok <&3"]
ENTRYPOINT ["/root/zk-startup.sh"]
