#!/bin/sh
# First start: system tables, root@'%' without a password, the database
# $MARIADB_DATABASE; then the server on every address, as user mysql.
set -eu
if [ "${1:-}" = mariadbd ]; then
    shift
    chown mysql:mysql /var/lib/mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql \
            --auth-root-authentication-method=normal --skip-test-db >/dev/null
        {
            echo "FLUSH PRIVILEGES;"
            echo "CREATE USER IF NOT EXISTS 'root'@'%';"
            echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
            if [ -n "${MARIADB_DATABASE:-}" ]; then
                echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
            fi
        } | mariadbd --user=mysql --datadir=/var/lib/mysql --bootstrap --log-warnings=0
    fi
    exec mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address=0.0.0.0 \
        --skip-name-resolve "$@"
fi
exec "$@"
