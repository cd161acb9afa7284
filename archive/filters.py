"""The archive timeline's filters, shared by the web page and the API (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from eth_utils import is_address, to_checksum_address

from archive import selectors
from archive.models import ArchiveEntry, EntryKind


class AddressField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        if not is_address(value):
            raise forms.ValidationError("Enter a 0x address (40 hex digits).", code="invalid_address")
        return to_checksum_address(value)


class AddressFilter(django_filters.CharFilter):
    field_class = AddressField


class ArchiveEntryFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=EntryKind.choices, help_text="Entry kind, e.g. vote.cast")
    proposal = django_filters.CharFilter(field_name="proposal_ref", max_length=64,
                                         help_text="Proposal reference (the proposal's trail)")
    address = AddressFilter(field_name="address", help_text="Actor address (any case)")
    since = django_filters.DateFilter(method="filter_since", help_text="From this UTC date (inclusive)")
    until = django_filters.DateFilter(method="filter_until", help_text="Up to this UTC date (inclusive)")
    q = django_filters.CharFilter(method="filter_q", max_length=200,
                                  help_text="Full-text search over the payload (web-search syntax)")

    class Meta:
        model = ArchiveEntry
        fields = ["kind", "proposal", "address", "since", "until", "q"]

    def filter_since(self, queryset, name, value):
        return selectors.filter_entries(queryset, since=value)

    def filter_until(self, queryset, name, value):
        return selectors.filter_entries(queryset, until=value)

    def filter_q(self, queryset, name, value):
        return selectors.search(queryset, value)
