# Stand-in for the database of upstream's compose file (MySQL flavour): Debian's MariaDB on
# the locally made base image. On first start with an empty data volume it creates the
# database and user from MYSQL_DATABASE / MYSQL_USER / MYSQL_PASSWORD (as the mysql image
# does) and loads every *.sql of /docker-entrypoint-initdb.d into that database; the build
# context given by docker/compose-test.sh puts upstream's 2.0.5 MySQL DDL there (taken from
# the dolphinscheduler-dao sources jar on Maven Central, never stored in this repository).
ARG BASE=dsmaster-base:bookworm
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends mariadb-server tzdata \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/lib/mysql/* \
    && mkdir -p /run/mysqld /docker-entrypoint-initdb.d && chown mysql:mysql /run/mysqld
COPY initdb/ /docker-entrypoint-initdb.d/
COPY mariadb-startup.sh /root/mariadb-startup.sh
RUN chmod 0755 /root/mariadb-startup.sh
ENV TZ=Asia/Shanghai LANG=C.UTF-8
VOLUME /var/lib/mysql
EXPOSE 3306
HEALTHCHECK --interval=5s --timeout=5s --start-period=120s --retries=3 \
    CMD ["mariadb-admin", "--protocol=socket", "--socket=/run/mysqld/mysqld.sock", "--user=root", "ping"]
ENTRYPOINT ["/root/mariadb-startup.sh"]
