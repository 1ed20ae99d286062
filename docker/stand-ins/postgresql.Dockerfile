# Stand-in for the bitnami/postgresql image of upstream's default compose file (which cannot
# be pulled on the project's machines): Debian's PostgreSQL on the locally made base image.
# It takes bitnami's variables (POSTGRESQL_USERNAME / POSTGRESQL_PASSWORD /
# POSTGRESQL_DATABASE) and data directory (/bitnami/postgresql). On first start with an
# empty volume it creates the cluster with that superuser and the database, and loads every
# *.sql of /docker-entrypoint-initdb.d into it; the build context given by
# docker/compose-test.sh puts upstream's 2.0.5 PostgreSQL DDL there (taken from the
# dolphinscheduler-dao sources jar on Maven Central, never stored in this repository).
ARG BASE=dsmaster-base:bookworm
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql tzdata \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && mkdir -p /bitnami/postgresql /docker-entrypoint-initdb.d \
    && chown postgres:postgres /bitnami/postgresql
COPY initdb/ /docker-entrypoint-initdb.d/
COPY postgresql-startup.sh /root/postgresql-startup.sh
RUN chmod 0755 /root/postgresql-startup.sh
ENV TZ=Asia/Shanghai LANG=C.UTF-8
VOLUME /bitnami/postgresql
EXPOSE 5432
# The socket of the running server only: while the schema loads, the server listens on a
# private socket, so the check stays red until the database is complete.
HEALTHCHECK --interval=5s --timeout=5s --start-period=120s --retries=3 \
    CMD ["pg_isready", "-q", "-h", "/run/postgresql", "-p", "5432"]
ENTRYPOINT ["/root/postgresql-startup.sh"]
