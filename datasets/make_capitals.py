"""Writes capitals.jsonl: a small 4-choice question set for experiments/new-benchmark.toml.

One record per country: {"id", "country", "question", "choices", "answer", "capital"}. The three
wrong choices are other countries' capitals, drawn with random.Random(7), so rerunning this
script rewrites the same file byte for byte.  Usage: python3 datasets/make_capitals.py
"""
import json
import os
import random

# Country:Capital, one pair per line.
PAIRS = """Afghanistan:Kabul
Albania:Tirana
Algeria:Algiers
Argentina:Buenos Aires
Armenia:Yerevan
Australia:Canberra
Austria:Vienna
Azerbaijan:Baku
Bangladesh:Dhaka
Belarus:Minsk
Belgium:Brussels
Bolivia:Sucre
Brazil:Brasilia
Bulgaria:Sofia
Cambodia:Phnom Penh
Cameroon:Yaounde
Canada:Ottawa
Chile:Santiago
China:Beijing
Colombia:Bogota
Croatia:Zagreb
Cuba:Havana
Cyprus:Nicosia
Czechia:Prague
Denmark:Copenhagen
Ecuador:Quito
Egypt:Cairo
Estonia:Tallinn
Ethiopia:Addis Ababa
Finland:Helsinki
France:Paris
Georgia:Tbilisi
Germany:Berlin
Ghana:Accra
Greece:Athens
Guatemala:Guatemala City
Hungary:Budapest
Iceland:Reykjavik
India:New Delhi
Indonesia:Jakarta
Iran:Tehran
Iraq:Baghdad
Ireland:Dublin
Israel:Jerusalem
Italy:Rome
Jamaica:Kingston
Japan:Tokyo
Jordan:Amman
Kazakhstan:Astana
Kenya:Nairobi
Kuwait:Kuwait City
Latvia:Riga
Lebanon:Beirut
Libya:Tripoli
Lithuania:Vilnius
Luxembourg:Luxembourg
Madagascar:Antananarivo
Malaysia:Kuala Lumpur
Mali:Bamako
Malta:Valletta
Mexico:Mexico City
Mongolia:Ulaanbaatar
Morocco:Rabat
Mozambique:Maputo
Nepal:Kathmandu
Netherlands:Amsterdam
New Zealand:Wellington
Nicaragua:Managua
Niger:Niamey
Nigeria:Abuja
North Korea:Pyongyang
Norway:Oslo
Oman:Muscat
Pakistan:Islamabad
Panama:Panama City
Paraguay:Asuncion
Peru:Lima
Philippines:Manila
Poland:Warsaw
Portugal:Lisbon
Qatar:Doha
Romania:Bucharest
Russia:Moscow
Rwanda:Kigali
Saudi Arabia:Riyadh
Senegal:Dakar
Serbia:Belgrade
Singapore:Singapore
Slovakia:Bratislava
Slovenia:Ljubljana
Somalia:Mogadishu
South Africa:Pretoria
South Korea:Seoul
Spain:Madrid
Sri Lanka:Colombo
Sudan:Khartoum
Sweden:Stockholm
Switzerland:Bern
Syria:Damascus
Taiwan:Taipei
Tanzania:Dodoma
Thailand:Bangkok
Tunisia:Tunis
Turkey:Ankara
Uganda:Kampala
Ukraine:Kyiv
United Kingdom:London
United States:Washington
Uruguay:Montevideo
Uzbekistan:Tashkent
Venezuela:Caracas
Vietnam:Hanoi
Yemen:Sanaa
Zambia:Lusaka
Zimbabwe:Harare"""


def main():
    rows = [line.split(":") for line in PAIRS.splitlines()]
    capitals = [cap for _, cap in rows]
    rng = random.Random(7)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "capitals.jsonl"), "w") as f:
        for i, (country, capital) in enumerate(rows):
            choices = rng.sample([c for c in capitals if c != capital], 3) + [capital]
            rng.shuffle(choices)
            rec = {"id": f"capitals-{i:03d}", "country": country, "question": f"What is the capital of {country}?",
                   "choices": choices, "answer": choices.index(capital), "capital": capital}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} records")


if __name__ == "__main__":
    main()
