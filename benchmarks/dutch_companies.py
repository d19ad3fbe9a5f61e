"""Realistic, seeded Dutch-ish organisations for the benchmarks.

Names of several words (trades, surnames with "van"/"de", "De Gouden Korenbloem" style, legal
forms like "B.V."), a share with accents (Müller, Öztürk, Café), unique 8-digit KvK numbers, and
a few hundred cities drawn with a long tail (Amsterdam often, Ameide rarely).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

SURNAMES = """Jansen;de Jong;de Vries;van den Berg;van Dijk;Bakker;Janssen;Visser;Smit;Meijer;de Boer;Mulder;
de Groot;Bos;Vos;Peters;Hendriks;van Leeuwen;Dekker;Brouwer;de Wit;Dijkstra;Smits;de Graaf;van der Meer;
van der Linden;Kok;Jacobs;de Haan;Vermeulen;van den Heuvel;van der Veen;van den Broek;de Bruijn;de Bruin;
van der Heijden;Schouten;van Beek;Willems;van Vliet;van de Ven;Hoekstra;Maas;Verhoeven;Koster;van Dam;
van der Wal;Prins;Blom;Huisman;Peeters;van Wijk;Kuijpers;Post;Kuiper;Veenstra;Kramer;van den Bosch;
Vermeer;Bosman;Wouters;van der Laan;Hermans;Gerritsen;van Dongen;Martens;Jonker;Evers;Timmermans;
Postma;Scholten;Groen;Koning;van Rijn;Boer;Dijkman;Hoogendoorn;Wolters;Sanders;Molenaar;Bouma;
Claassen;Verbeek;Kuipers;van Doorn;Ruiter;Mertens;van Gils;Vink;Stam;van Os;Bruijn;Franken;Haan;
Müller;Schröder;Brüggemann;Jürgens;Öztürk;Yılmaz;Çelik;Şahin;Kılıç;Doğan;Lefèvre;Noël;Dubois;
Gonçalves;Peña;Núñez;Ramírez;García;Sørensen;Åberg;Bäcker;Hoëvenaars;Duijvestijn;Kerkhoffs;Ergün""".split(";")
TRADES = """Bakkerij;Slagerij;Autobedrijf;Bouwbedrijf;Installatietechniek;Schildersbedrijf;Loodgietersbedrijf;
Adviesbureau;Administratiekantoor;Accountants;Tandartspraktijk;Fysiotherapie;Kapsalon;Bloemenhandel;
Transport;Logistiek;Hoveniersbedrijf;Timmerbedrijf;Dakdekkersbedrijf;Elektrotechniek;Groothandel;
Makelaardij;Notariskantoor;Advocaten;Café;Restaurant;Hotel;Garage;Fietsenwinkel;Drukkerij;
Reclamebureau;Software;ICT Diensten;Consultancy;Schoonmaakbedrijf;Verhuur;Metaalbewerking;Machinefabriek;
Kwekerij;Melkveehouderij;Zorgcentrum;Kinderopvang;Huisartsenpraktijk;Apotheek;Opticien;Juwelier;
Boekhandel;Kaashandel;Visspeciaalzaak;Bouwmaterialen;Interieur;Architectenbureau;Ingenieursbureau;
Beveiliging;Uitzendbureau;Rijschool;Reisbureau;Fotografie;Webdesign;Brasserie;Pizzeria;Slijterij;
Tegelzetbedrijf;Stukadoorsbedrijf;Glashandel;Koeltechniek;Crèche;Pâtisserie;Financieel Advies""".split(";")
ADJECTIVES = "Gouden;Groene;Blauwe;Rode;Witte;Oude;Nieuwe;Kleine;Grote;Vrolijke;Zilveren;Hollandse".split(";")
NOUNS = """Korenbloem;Molen;Zwaan;Leeuw;Eik;Linde;Ster;Zon;Roos;Tulp;Klaproos;Hoeve;Brug;Haven;Toren;Poort;
Sleutel;Kroon;Anker;Vos;Hert;Uil;Valk;Brink;Akker;Beek;Dijk;Wieken;Smidse;Kajuit""".split(";")
LEGAL_FORMS = ["", "", "", " B.V.", " B.V.", " V.O.F.", " Holding B.V.", " & Zn.", " N.V.", " C.V."]
PLACES = """Amsterdam;Rotterdam;Den Haag;Utrecht;Eindhoven;Groningen;Tilburg;Almere;Breda;Nijmegen;Apeldoorn;
Haarlem;Arnhem;Enschede;Amersfoort;Zaanstad;'s-Hertogenbosch;Haarlemmermeer;Zwolle;Zoetermeer;Leiden;
Maastricht;Dordrecht;Ede;Alphen aan den Rijn;Alkmaar;Emmen;Westland;Delft;Venlo;Deventer;Sittard-Geleen;
Helmond;Oss;Amstelveen;Hilversum;Súdwest-Fryslân;Heerlen;Nissewaard;Hengelo;Purmerend;Roosendaal;
Schiedam;Lelystad;Leidschendam-Voorburg;Almelo;Vlaardingen;Gouda;Zaandam;Hoorn;Velsen;Assen;Capelle aan den IJssel;
Bergen op Zoom;Katwijk;Veenendaal;Zeist;Nieuwegein;Lansingerland;Hardenberg;Roermond;Doetinchem;Barneveld;
Gooise Meren;Den Helder;Heerhugowaard;Oosterhout;Smallingerland;Hoogeveen;Terneuzen;Kampen;Pijnacker-Nootdorp;
Woerden;Rijswijk;Heusden;Houten;Waalwijk;Goeree-Overflakkee;Weert;Barendrecht;Middelburg;Harderwijk;
Zutphen;Soest;Ridderkerk;Vlissingen;Noardeast-Fryslân;Kerkrade;Nijkerk;Tiel;Veldhoven;Papendrecht;
Oldambt;Heemskerk;Hellevoetsluis;Wageningen;Huizen;Alblasserdam;Meppel;Culemborg;Gorinchem;Leusden;
IJsselstein;Dronten;Maassluis;Zwijndrecht;Bunschoten;Winterswijk;Heerenveen;Sneek;Leeuwarden;Drachten;
Franeker;Harlingen;Dokkum;Bolsward;Workum;Stavoren;Hindeloopen;Sloten;IJlst;Zaltbommel;Boxtel;Uden;
Veghel;Cuijk;Boxmeer;Gennep;Venray;Horst;Panningen;Echt;Susteren;Stein;Beek;Meerssen;Valkenburg;Gulpen;
Vaals;Eijsden;Margraten;Brunssum;Landgraaf;Voerendaal;Simpelveld;Nuth;Schinnen;Ameide;Zierikzee;Goes;
Hulst;Sluis;Aardenburg;Oostburg;Yerseke;Kapelle;Tholen;Steenbergen;Halsteren;Etten-Leur;Zundert;
Rucphen;Dongen;Gilze;Rijen;Goirle;Hilvarenbeek;Oisterwijk;Vught;Sint-Michielsgestel;Schijndel;Veenhuizen;
Coevorden;Westerbork;Borger;Gieten;Eelde;Roden;Zuidlaren;Winschoten;Delfzijl;Appingedam;Stadskanaal;
Veendam;Hoogezand;Winsum;Bedum;Uithuizen;Wehe-den Hoorn;Lemmer;Joure;Wolvega;Oosterwolde;Gorredijk""".split(
    ";"
)
CITY_VARIANTS = ["Nieuw-", "Oud-", "Sint-", "Klein-"]
# Syllables of made-up brand words ("Velbrook", "Drovendal"): a long tail of rare words.
SYLLABLES = (
    "vel;brook;dro;ven;dal;kor;te;lin;mar;sto;ber;gen;ha;ker;wijn;zo;mer;rij;ak;tus;ni;ca;lo;ra".split(";")
)


@dataclass(frozen=True)
class GeneratedOrganisation:
    """One organisation's fields (the rest of the row is filled in by the loader)."""

    environment_index: int
    name: str
    kvk_number: str
    city: str
    activated: bool
    findable: bool


def cities(count: int = 300) -> list[str]:
    """About ``count`` place names: the list above, then variants of the first ones."""
    names = [place.strip() for place in PLACES]
    for variant in CITY_VARIANTS:
        names += [f"{variant}{place}" for place in names[: max(0, (count - len(names)) // 2)]]
    return list(dict.fromkeys(names))[:count]


def _name(rng: random.Random) -> str:
    surname = rng.choice(SURNAMES).strip()
    surname = surname[0].upper() + surname[1:]
    trade = rng.choice(TRADES).strip()
    shape = rng.random()
    if shape < 0.25:
        name = f"{trade} {surname}"
    elif shape < 0.45:
        name = f"{surname} {trade}"
    elif shape < 0.55:
        name = f"{surname} & {rng.choice(SURNAMES).strip()} {trade}"
    elif shape < 0.70:
        name = f"De {rng.choice(ADJECTIVES)} {rng.choice(NOUNS).strip()}"
    elif shape < 0.78:
        name = f"{trade} De {rng.choice(ADJECTIVES)} {rng.choice(NOUNS).strip()}"
    elif shape < 0.85:
        name = f"{surname} {rng.choice(['Holding', 'Beheer', 'Groep', 'Investments', 'Services'])}"
    else:
        brand = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()
        name = f"{brand} {trade}" if rng.random() < 0.5 else f"{trade} {brand}"
    return name + rng.choice(LEGAL_FORMS)


def generate(count: int, *, environments: int, seed: int = 20261202) -> Iterator[GeneratedOrganisation]:
    """``count`` organisations over ``environments`` environments (index 0 .. environments-1)."""
    rng = random.Random(seed)
    places = cities()
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(places))]  # a long tail, like the register
    kvk_numbers = rng.sample(range(10_000_000, 100_000_000), count)
    city_draws = rng.choices(places, weights=weights, k=count)
    for index in range(count):
        yield GeneratedOrganisation(
            environment_index=rng.randrange(environments),
            name=_name(rng),
            kvk_number=str(kvk_numbers[index]),
            city=city_draws[index],
            activated=rng.random() < 0.9,
            findable=rng.random() < 0.95,
        )
