# One image for web, worker and beat. The dev chain (anvil) and the contract build use npm packages.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# gcc builds chain/native (the C fast path of vote verification; without it chain.eip712 falls back to Python).
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN python chain/native/build.py
RUN DEBUG=true python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "govapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4"]
