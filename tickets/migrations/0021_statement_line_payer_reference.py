"""The payer's own reference for a transfer (camt.053 EndToEndId, MT940's customer reference) in a column of its own:
it had been the transfer's identity where the bank gave none, and a payer reusing it lost the second transfer."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tickets', '0020_transfer_reference_per_receiving_account'),
    ]

    operations = [
        migrations.AddField(
            model_name='statementline',
            name='payer_reference',
            field=models.CharField(blank=True, default='', help_text="The payer's own reference for the transfer (end-to-end id), as the bank passed it on.", max_length=60, verbose_name="payer's reference"),
        ),
    ]
