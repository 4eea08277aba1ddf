"""Static checks of a policy document: names, types, dependencies, ownership and sizes."""
