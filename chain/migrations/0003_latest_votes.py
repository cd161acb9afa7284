"""LatestVotes: each account's last two votes checkpoints (chain.models.LatestVotes), filled here from the
existing checkpoints; from then on the indexer keeps it in the transactions that write or roll back
checkpoints (chain.services.refresh_latest_votes)."""

from django.db import migrations, models

import chain.models

FILL = (
    "INSERT INTO chain_latestvotes (account, block, votes, prev_block, prev_votes) "
    "SELECT t.account, t.block, t.votes, p.block, p.votes FROM chain_votescheckpoint t "
    "LEFT JOIN chain_votescheckpoint p ON p.account = t.account AND p.block = "
    "(SELECT MAX(q.block) FROM chain_votescheckpoint q WHERE q.account = t.account AND q.block < t.block) "
    "WHERE t.block = (SELECT MAX(m.block) FROM chain_votescheckpoint m WHERE m.account = t.account)"
)


class Migration(migrations.Migration):

    dependencies = [
        ("chain", "0002_covering_checkpoint_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="LatestVotes",
            fields=[
                ("account", models.CharField(max_length=42, primary_key=True, serialize=False)),
                ("block", models.BigIntegerField(help_text="Block of the latest votes checkpoint")),
                ("votes", chain.models.Uint256Field()),
                ("prev_block", models.BigIntegerField(blank=True, help_text="Block of the one before (NULL: none)",
                                                      null=True)),
                ("prev_votes", chain.models.Uint256Field(blank=True, null=True)),
            ],
            options={
                "indexes": [models.Index(fields=["block"], name="chain_latestvotes_block")],
            },
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
