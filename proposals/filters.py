"""Filters of the proposal list, shared by the web page and the API (django-filter)."""

from __future__ import annotations

import django_filters
from django import forms
from eth_utils import is_address, to_checksum_address

from proposals import selectors
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Proposal


class AddressField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        if not is_address(value.strip()):
            raise forms.ValidationError("Enter a 0x address (40 hex digits).", code="invalid_address")
        return to_checksum_address(value.strip())


class AddressFilter(django_filters.CharFilter):
    field_class = AddressField


class ProposalFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_noop", max_length=200,
                                  help_text="Full-text search of title and body (web-search syntax)")
    kind = django_filters.ChoiceFilter(choices=ProposalKind.choices, help_text="Proposal type")
    status = django_filters.ChoiceFilter(choices=ProposalStatus.choices, help_text="Status")
    author = AddressFilter(field_name="author__address", help_text="Author address (any case)")
    sort = django_filters.ChoiceFilter(
        method="filter_noop", choices=[(k, label) for k, (label, _) in selectors.SORTS.items()],
        help_text="newest (default), oldest, updated, title, status, relevance (with q)")

    class Meta:
        model = Proposal
        fields = ["q", "kind", "status", "author", "sort"]

    def filter_noop(self, queryset, name, value):
        return queryset  # q and sort are applied together in filter_queryset (relevance needs the search)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        text = self.form.cleaned_data.get("q") or ""
        queryset = selectors.search(queryset, text)
        return selectors.sort_proposals(queryset, self.form.cleaned_data.get("sort"), searched=bool(text.strip()))
