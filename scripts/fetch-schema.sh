#!/usr/bin/env bash
# Puts upstream's own DDL in reach of the test kit: the published -sources jars of
# org.apache.dolphinscheduler:dolphinscheduler-dao carry sql/dolphinscheduler_mysql.sql
# and sql/dolphinscheduler_postgresql.sql.
# Maven caches them in ~/.m2; a second run does nothing. Nothing fetched is committed.
set -euo pipefail
for version in 2.0.2 2.0.5; do
    jar="$HOME/.m2/repository/org/apache/dolphinscheduler/dolphinscheduler-dao/$version/dolphinscheduler-dao-$version-sources.jar"
    if [ -f "$jar" ]; then
        continue
    fi
    echo "fetch-schema: downloading dolphinscheduler-dao $version sources from Maven Central"
    mvn -q -B dependency:get \
        -Dartifact="org.apache.dolphinscheduler:dolphinscheduler-dao:$version:jar:sources" \
        -Dtransitive=false
done
echo "fetch-schema: upstream DDL for 2.0.2 and 2.0.5 present"
