# Stand-in for upstream's apache/dolphinscheduler:2.0.5 image (which cannot be pulled on the
# project's machines): the unmodified API server and worker from the Maven Central jars
# the conformance suite resolves (compat/upstream/classpath.sh), on Debian's OpenJDK 17.
#
# Build context (made by docker/compose-test.sh, under target/docker/context/dolphinscheduler):
#   lib/              every jar of both classpaths, by file name
#   api.classpath     the API server's classpath, entries relative to /opt/dolphinscheduler
#   worker.classpath  the worker's (also the logger server's)
#   startup.sh, checkpoint.sh  copies of docker/stand-ins/ds-startup.sh, ds-checkpoint.sh
#
# Commands as upstream's image: api-server, worker-server (with the logger server beside it,
# as upstream's image runs it), logger-server. Settings from the same environment variables
# (DATABASE_*, REGISTRY_*, WORKER_*, SUDO_ENABLE, DATA_BASEDIR_PATH, *_SERVER_OPTS, TZ ...).
ARG JRE=dsmaster-jre:bookworm
FROM ${JRE}
ARG DEBIAN_FRONTEND=noninteractive
# sudo: tasks run as the tenant (sudo.enable=true, worker.tenant.auto.create=true, as
# upstream's image); psmisc: the worker reads task process trees with pstree; tini: PID 1.
RUN apt-get update \
    && apt-get install -y --no-install-recommends sudo psmisc tini \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
ENV DOLPHINSCHEDULER_HOME=/opt/dolphinscheduler DOCKER=true
COPY lib/ /opt/dolphinscheduler/lib/
COPY api.classpath worker.classpath /opt/dolphinscheduler/
COPY startup.sh /root/startup.sh
COPY checkpoint.sh /root/checkpoint.sh
RUN chmod 0755 /root/startup.sh /root/checkpoint.sh \
    && mkdir -p /opt/dolphinscheduler/conf/env /opt/dolphinscheduler/logs /tmp/dolphinscheduler
WORKDIR /opt/dolphinscheduler
# 1234 worker, 12345 API, 50051 logger server
EXPOSE 1234 12345 50051
ENTRYPOINT ["/usr/bin/tini", "--", "/root/startup.sh"]
CMD ["help"]
